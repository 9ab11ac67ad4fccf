import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import xtermHeadless from "@xterm/headless";
import type { CreatedSession } from "../../contracts/api";
import { TerminalConnection } from "../../contracts/terminal-client";
import { apiPath, socketUrl } from "../../contracts/urls";
import { demoTitle } from "./baseline";
import { localMenuconfigFirstFrame, systemPython } from "../baselines";
import { createFakeFirmwareRepo, demoTree } from "../../test/fixtures/fake-firmware";
import { kbsBin, startKbs, type KbsProcess } from "../../test/helpers/server";
import { wsOpener } from "../../test/helpers/terminal";
import { runLoad, type LoadResult } from "../load";
import { treeRssMB } from "../proctree";
import type { BenchContext, BenchFigure, BenchSuite } from "../types";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Wait until the server's /metrics shows `series` at 1 or more (background work done), or fail after `timeoutMs`. */
async function metricReady(url: string, series: string, what: string, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const line = (await (await fetch(`${url}/metrics`)).text()).split("\n").find((l) => l.startsWith(`${series} `));
    if (line && Number(line.slice(series.length + 1)) >= 1) return;
    await sleep(50);
  }
  throw new Error(`${what} within ${timeoutMs / 1000} s`);
}

/** Wait until the server's pool holds a warm menuconfig sandbox again (it refills in the background). */
const poolWarm = (url: string) => metricReady(url, 'kbs_sandbox_warm{image="menuconfig"}', "the warm pool did not refill", 10_000);

/** Wait until the server holds a primed session for `project` (launched after a session on the tree, drawn and quiet). */
export const primedReady = (url: string, project: string, timeoutMs = 60_000) =>
  metricReady(url, `kbs_sessions_primed{project="${project}"}`, `no primed session for ${project}`, timeoutMs);

async function server(ctx: BenchContext, name: string, env: Record<string, string>, setup?: (dataDir: string) => void): Promise<KbsProcess> {
  const dataDir = path.join(ctx.workDir, `terminal-${name}`);
  fs.mkdirSync(dataDir, { recursive: true });
  setup?.(dataDir);
  return startKbs({
    dataDir,
    withNext: false,
    env: { KBS_UPSTREAMS: "0", KBS_LOG_LEVEL: "warn", KBS_SESSIONS_PER_CLIENT: "1000", KBS_SESSIONS_MAX: "1000", KBS_BUILD_WORKERS: "0", ...env },
  });
}

/** A Klipper-like project (the demo tree with its own lib/kconfiglib, as Klipper ships), added and synced with the kbs command. */
function addKlipperLike(ctx: BenchContext, dataDir: string): string {
  const repo = path.join(ctx.workDir, "terminal-fw");
  if (!fs.existsSync(repo)) createFakeFirmwareRepo(repo, { ownKconfiglib: true });
  const env = { ...process.env, KBS_DATA_DIR: dataDir, KBS_UPSTREAMS: "0" };
  execFileSync(process.execPath, [kbsBin, "project", "add", "fw", "--recipe", "klipper", "--url", repo], { env, stdio: "ignore" });
  execFileSync(process.execPath, [kbsBin, "sync", "fw"], { env, stdio: "ignore" });
  return repo;
}

/** A session opened as a browser would: POST, WebSocket, init, acks, output into a headless xterm. */
class BenchTerminal {
  frames = 0;
  lastFrame = 0;
  private parsed: Promise<void> = Promise.resolve();
  private readonly term = new xtermHeadless.Terminal({ cols: 120, rows: 40, scrollback: 0, allowProposedApi: true });
  private readonly conn: TerminalConnection;

  private constructor(url: string, wsPath: string, opened: (error?: Error) => void) {
    this.conn = new TerminalConnection(wsOpener(socketUrl(wsPath, url)), {
      opened: () => opened(),
      message: () => undefined,
      output: (data) => {
        this.frames++;
        this.lastFrame = performance.now();
        this.parsed = this.parsed.then(() => new Promise<void>((r) => this.term.write(data, r)));
        this.conn.ack(data.length);
      },
      closed: (code, reason) => opened(new Error(`the session socket closed (${code} ${reason})`)),
    });
  }

  /** Open a session and wait for menuconfig's top menu; `ms` is from the POST to that frame. */
  static async open(url: string, project: string): Promise<{ t: BenchTerminal; ms: number }> {
    const t0 = performance.now();
    const res = await fetch(url + apiPath.sessions(), { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ project, rev: "HEAD" }) });
    if (res.status !== 201) throw new Error(`POST /api/sessions: HTTP ${res.status} ${await res.text()}`);
    const { wsPath } = (await res.json()) as CreatedSession;
    const t = await new Promise<BenchTerminal>((resolve, reject) => {
      const opening: BenchTerminal = new BenchTerminal(url, wsPath, (e) => (e ? reject(e) : resolve(opening)));
    });
    t.conn.init({ cols: 120, rows: 40 });
    await t.until("the top menu", () => t.text().includes(demoTitle));
    return { t, ms: Math.round(performance.now() - t0) };
  }

  text(): string {
    const buf = this.term.buffer.active;
    const lines: string[] = [];
    for (let y = 0; y < this.term.rows; y++) lines.push(buf.getLine(y)?.translateToString(true) ?? "");
    return lines.join("\n");
  }

  async until(what: string, ok: () => boolean): Promise<void> {
    const deadline = performance.now() + 60_000;
    while (!ok()) {
      if (performance.now() > deadline) throw new Error(`no ${what} within 60 s; screen:\n${this.text()}`);
      await sleep(2);
      await this.parsed;
    }
  }

  /** An arrow key (in the cursor-key mode curses set); resolves with the time to the first output after it. */
  async arrow(direction: "A" | "B"): Promise<number> {
    const before = this.frames;
    const t0 = performance.now();
    this.conn.input(`\x1b${this.term.modes.applicationCursorKeysMode ? "O" : "["}${direction}`);
    await this.until("redraw", () => this.frames > before);
    return Math.round((this.lastFrame - t0) * 100) / 100;
  }

  /** Close as the portal does when the user is done (code 1000): the session ends at once instead of waiting for a reconnect. */
  close(): void {
    this.conn.close(1000, "closed by the page");
    this.term.dispose();
  }
}

/** One session from POST /api/sessions to the frame holding the demo's top menu title, as a WebSocket client sees it. */
async function firstFrame(url: string, start: "cold" | "warm" | "primed", project = "demo"): Promise<number> {
  if (start === "warm") await poolWarm(url);
  if (start === "primed") await primedReady(url, project);
  const { t, ms } = await BenchTerminal.open(url, project);
  t.close();
  return ms;
}

/**
 * Keystroke-to-redraw latency with `sessions` sessions open at once, each typing at a
 * person's pace (one arrow key every `paceMs`): the time from sending a key to the
 * first output frame after it, on every session's own WebSocket.
 */
async function pacedKeystrokes(url: string, sessions: number, keys: number, paceMs: number): Promise<number[]> {
  const latencies: number[] = [];
  // Every session is open and drawn before anyone types: start-up is not what is measured.
  const terms = await Promise.all(Array.from({ length: sessions }, (_, i) => sleep(i * 20).then(() => BenchTerminal.open(url, "demo"))));
  await Promise.all(
    terms.map(async ({ t }, i) => {
      await sleep((i * paceMs) / sessions);
      try {
        for (let k = 0; k < keys; k++) {
          const t0 = performance.now();
          latencies.push(await t.arrow(k % 8 < 4 ? "B" : "A"));
          await sleep(Math.max(0, paceMs - (performance.now() - t0)));
        }
      } finally {
        t.close();
      }
    }),
  );
  return latencies;
}

function check(r: LoadResult, what: string): LoadResult {
  if (r.errors.length) throw new Error(`${what}: ${r.errors.slice(0, 3).join("; ")}`);
  return r;
}

/**
 * Issue 5's figures on the built-in demo tree, through a real `kbs serve` (HTTP +
 * WebSocket + bwrap sandboxes): first frame with a warm pool, primed (the next
 * session on a tree is handed one launched ahead of need) and cold (pool of 0),
 * beside local `make menuconfig` in tmux on the same tree; keystroke-to-redraw
 * latency with 1 session, and with 50 (quick: 10) at once both flat out and at a
 * person's typing pace; memory per
 * session; and the save round trip (menuconfig's S to the `saved` message).
 */
export const suite: BenchSuite = async (ctx) => {
  const runs = ctx.quick ? 5 : 15;
  const many = ctx.quick ? 10 : 50;
  const tree = path.join(ctx.workDir, "terminal-demo");
  fs.cpSync(demoTree, tree, { recursive: true });

  ctx.log("local make menuconfig in tmux (baseline)");
  const local = await localMenuconfigFirstFrame({ dir: tree, title: demoTitle, runs });
  const baseline = { name: "local make menuconfig in tmux, 120x40", samples: local };

  const figures: BenchFigure[] = [];
  let fwRepo = "";
  let ownBaseline: BenchFigure["baseline"];
  // Priming off here: these figures are the warm pool's path (and memory per session without primed ones).
  const warmServer = await server(ctx, "warm", { KBS_POOL_SIZE: "2", KBS_PRIMED_TREES: "0" }, (dataDir) => (fwRepo = addKlipperLike(ctx, dataDir)));
  try {
    ctx.log(`first frame, warm pool (${runs} runs)`);
    const warm: number[] = [];
    await firstFrame(warmServer.url, "warm");
    for (let i = 0; i < runs; i++) warm.push(await firstFrame(warmServer.url, "warm"));
    figures.push({ name: "terminal.first-frame.warm", unit: "ms", samples: warm, baseline, target: "p50 <= 100 ms", note: "POST /api/sessions to the top menu on a WebSocket client, demo tree (system Kconfiglib), warm pool" });

    ctx.log(`first frame, warm pool, Klipper-like tree with its own Kconfiglib (${runs} runs)`);
    const own: number[] = [];
    await firstFrame(warmServer.url, "warm", "fw");
    for (let i = 0; i < runs; i++) own.push(await firstFrame(warmServer.url, "warm", "fw"));
    const localOwn = await localMenuconfigFirstFrame({ dir: fwRepo, title: demoTitle, runs, command: `make menuconfig PYTHON=${systemPython} KCONFIGLIB=lib/kconfiglib` });
    ownBaseline = { name: "local make menuconfig with the tree's lib/kconfiglib, in tmux", samples: localOwn };
    figures.push({
      name: "terminal.first-frame.warm.own-kconfiglib",
      unit: "ms",
      samples: own,
      baseline: ownBaseline,
      target: "p50 <= 100 ms",
      note: "as above on a Klipper-like tree that ships lib/kconfiglib (byte-compiled once per kconfig hash)",
    });

    ctx.log("keystroke latency, 1 session");
    const one = check(await runLoad({ url: warmServer.url, project: "demo", sessions: 1, keystrokes: 30, builds: 0, title: demoTitle, timeoutMs: 120_000 }), "1 session");
    figures.push({ name: "terminal.keystroke.1-session", unit: "ms", samples: one.keystrokeMs, target: "p50 <= 10 ms", note: "arrow/space to the first redraw byte" });
    figures.push({ name: "terminal.save-round-trip", unit: "ms", samples: one.saveMs, note: "menuconfig's S, Enter, then the save message, to the saved{configId} reply (config stored)" });

    ctx.log(`keystroke latency, ${many} sessions at once`);
    const idle = treeRssMB(warmServer.child.pid!);
    const loaded = check(
      await runLoad({ url: warmServer.url, project: "demo", sessions: many, keystrokes: 20, builds: 0, title: demoTitle, serverPid: warmServer.child.pid, staggerMs: 20, timeoutMs: 60_000 + many * 5_000 }),
      `${many} sessions`,
    );
    figures.push({ name: `terminal.keystroke.${many}-sessions.flat-out`, unit: "ms", samples: loaded.keystrokeMs, note: `${many} sessions each typing as fast as redraws come, on 2 cores` });
    figures.push({
      name: "terminal.memory-per-session",
      unit: "MB",
      samples: [Math.round(((loaded.memory.peakTreeMB - idle.treeMB) / many) * 10) / 10],
      note: `(peak RSS of the server's process tree with ${many} sessions - idle) / ${many}; sandbox processes included`,
    });

    ctx.log(`keystroke latency, ${many} sessions typing at a person's pace`);
    const paced = await pacedKeystrokes(warmServer.url, many, ctx.quick ? 10 : 20, 200);
    figures.push({ name: `terminal.keystroke.${many}-sessions`, unit: "ms", samples: paced, target: many >= 50 ? "p95 <= 30 ms" : undefined, note: `${many} sessions open, each pressing an arrow key every 200 ms` });
  } finally {
    await warmServer.stop();
  }

  const primedServer = await server(ctx, "primed", { KBS_POOL_SIZE: "2" }, (dataDir) => addKlipperLike(ctx, dataDir));
  try {
    for (const [project, name, base] of [["demo", "terminal.first-frame.primed", baseline], ["fw", "terminal.first-frame.primed.own-kconfiglib", ownBaseline]] as const) {
      ctx.log(`first frame, primed, ${project} (${runs} runs)`);
      const primed: number[] = [];
      await firstFrame(primedServer.url, "warm", project);
      for (let i = 0; i < runs; i++) primed.push(await firstFrame(primedServer.url, "primed", project));
      figures.push({
        name,
        unit: "ms",
        samples: primed,
        baseline: base,
        target: "p50 <= 100 ms",
        note: "as warm, for the next session on the tree: handed the menuconfig kbs launched ahead of need (KBS_PRIMED_TREES)",
      });
    }
  } finally {
    await primedServer.stop();
  }

  const coldServer = await server(ctx, "cold", { KBS_POOL_SIZE: "0", KBS_PRIMED_TREES: "0" });
  try {
    ctx.log(`first frame, cold (${runs} runs)`);
    const cold: number[] = [];
    await firstFrame(coldServer.url, "cold");
    for (let i = 0; i < runs; i++) cold.push(await firstFrame(coldServer.url, "cold"));
    figures.push({ name: "terminal.first-frame.cold", unit: "ms", samples: cold, baseline, note: "as warm, with a pool of 0: every session starts its sandbox" });
  } finally {
    await coldServer.stop();
  }
  return figures;
};
