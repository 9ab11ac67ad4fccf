import xtermHeadless from "@xterm/headless";
import { TerminalConnection } from "../contracts/terminal-client";
import type { Build, CreatedConfig, CreatedSession, Revision, StoredConfig } from "../contracts/api";
import { finishedBuildStates } from "../contracts/build-states";
import type { ServerMessage } from "../contracts/terminal-protocol";
import { apiPath, socketUrl } from "../contracts/urls";
import { wsOpener } from "../test/helpers/terminal";
import { fmt } from "./report";
import { stats } from "./stats";
import { treeRssMB } from "./proctree";

/**
 * The load scenario (issue 9 "Load"), shared by `test/load.test.ts` and the bench's
 * load suite: N concurrent menuconfig sessions through the real HTTP + WebSocket
 * path of a running kbs, each moving with arrow keys, toggling a symbol with space
 * and saving with menuconfig's own S, while builds run; then every saved config is
 * read back from the config store. Loopback only, bounded in count and time.
 */
export interface LoadOptions {
  url: string;
  project: string;
  /** Default: the newest revision GET /api/projects/:id/revisions lists. */
  rev?: string;
  sessions: number;
  /** Timed keystrokes per session (arrows and space), besides those of saving. */
  keystrokes: number;
  builds: number;
  /** The text of menuconfig's top frame. */
  title: string;
  /** The kbs server's pid, for its memory. */
  serverPid?: number;
  /**
   * Pause between keys (ms, ±50 % jitter so sessions do not type in lockstep): a person
   * moving through menuconfig presses a few keys a second. Default 150; 0 types as fast as redraws come.
   */
  thinkMs?: number;
  /** Sessions start this far apart (ms): people do not all press Enter in the same millisecond. */
  staggerMs?: number;
  /** The whole run stops after this, counting what did not finish as errors. */
  timeoutMs: number;
  log?(message: string): void;
}

export interface LoadResult {
  sessions: number;
  errors: string[];
  firstFrameMs: number[];
  keystrokeMs: number[];
  saveMs: number[];
  /** One per session that saved: the config id and whether the store returned it with the change. */
  saves: Array<{ session: number; configId: string; stored: boolean }>;
  builds: Array<{ id: string; state: string; ms: number }>;
  memory: { serverMB: number; peakTreeMB: number; peakProcesses: number };
  durationMs: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const key = { down: "down", up: "up", space: " ", enter: "\r", save: "S" };

/**
 * What a session changes: even sessions turn "Debug messages" on (6 rows down on the
 * demo's top menu), odd ones turn "Enable serial console" off (4 rows down).
 */
function plan(i: number): { downs: number; expect: string } {
  return i % 2 === 0 ? { downs: 6, expect: "CONFIG_ENABLE_DEBUG=y" } : { downs: 4, expect: "# CONFIG_ENABLE_SERIAL is not set" };
}

export async function api<T>(url: string, init?: { method?: string; body?: unknown }): Promise<T> {
  const res = await fetch(url, {
    method: init?.method ?? "GET",
    headers: init?.body ? { "content-type": "application/json" } : undefined,
    body: init?.body ? JSON.stringify(init.body) : undefined,
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${init?.method ?? "GET"} ${new URL(url).pathname}: HTTP ${res.status} ${text.slice(0, 300)}`);
  return JSON.parse(text) as T;
}

/** A session client: a session socket with a headless screen, timing each keystroke to its first redraw byte. */
export class LoadTerminal {
  readonly messages: ServerMessage[] = [];
  private readonly term: InstanceType<typeof xtermHeadless.Terminal>;
  private readonly conn: TerminalConnection;
  private frames = 0;
  private lastFrameAt = 0;
  private parsed: Promise<void> = Promise.resolve();
  private closed: string | undefined;

  private constructor(url: string, wsPath: string, cols: number, rows: number, opened: () => void) {
    this.term = new xtermHeadless.Terminal({ cols, rows, scrollback: 0, allowProposedApi: true });
    this.conn = new TerminalConnection(wsOpener(socketUrl(wsPath, url), { origin: url }), {
      opened: () => {
        this.conn.init({ cols, rows });
        opened();
      },
      message: (msg) => this.messages.push(msg),
      output: (data) => {
        this.frames++;
        this.lastFrameAt = performance.now();
        this.parsed = this.parsed.then(() => new Promise<void>((r) => this.term.write(data, r)));
        this.conn.ack(data.length);
      },
      closed: (code, reason) => (this.closed = `socket closed ${code} ${reason}`),
    });
  }

  /** Open the session's socket and send `init`; fails when the socket closes before it opened. */
  static open(url: string, wsPath: string, cols: number, rows: number): Promise<LoadTerminal> {
    return new Promise((resolve, reject) => {
      const t: LoadTerminal = new LoadTerminal(url, wsPath, cols, rows, () => resolve(t));
      void t.until("the socket to open", () => t.conn.open, 30_000).catch(reject);
    });
  }

  screen(): string {
    const buf = this.term.buffer.active;
    const lines: string[] = [];
    for (let i = 0; i < this.term.rows; i++) lines.push(buf.getLine(buf.viewportY + i)?.translateToString(true) ?? "");
    return lines.join("\n");
  }

  /** Poll (every 5 ms) until `check` holds; the error says what was awaited and shows the screen. */
  async until<T>(what: string, check: () => T | undefined | false, timeoutMs: number): Promise<T> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      await this.parsed;
      const v = check();
      if (v) return v;
      const failure = this.messages.find((m) => m.type === "error" || m.type === "exit");
      if (failure) throw new Error(`${what}: server sent ${JSON.stringify(failure)}`);
      if (this.closed) throw new Error(`${what}: ${this.closed}`);
      if (performance.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms; screen:\n${this.screen()}`);
      await sleep(5);
    }
  }

  /**
   * The bytes a terminal sends for a key: curses turns on application cursor keys
   * (DECCKM), and then arrows are ESC O x, not ESC [ x, as xterm.js does in the browser.
   */
  private encode(k: string): string {
    const arrow = ({ up: "A", down: "B", right: "C", left: "D" } as Record<string, string>)[k];
    if (!arrow) return k;
    return `\x1b${this.term.modes.applicationCursorKeysMode ? "O" : "["}${arrow}`;
  }

  /** Send one key; the latency is until the first output frame after it, then wait for the redraw to settle. */
  async press(k: string, timeoutMs: number): Promise<number> {
    const before = this.frames;
    const t0 = performance.now();
    this.type(k);
    await this.until(`redraw after key ${JSON.stringify(k)}`, () => this.frames > before, timeoutMs);
    const latency = this.lastFrameAt - t0;
    await this.settle(timeoutMs);
    return Math.round(latency * 100) / 100;
  }

  /** Wait until no output arrived for 25 ms. */
  async settle(timeoutMs: number): Promise<void> {
    await this.until("output to settle", () => performance.now() - this.lastFrameAt > 25, timeoutMs);
  }

  /** Send keys without timing them. */
  type(k: string): void {
    this.conn.input(this.encode(k));
  }

  save(): void {
    this.conn.save();
  }

  /** Close as the portal does when the user is done (code 1000): the session ends at once instead of waiting for a reconnect. */
  close(): void {
    this.conn.close(1000, "closed by the page");
    this.term.dispose();
  }
}

async function runSession(i: number, o: LoadOptions, rev: string, out: LoadResult): Promise<void> {
  const wait = o.sessions > 20 ? 120_000 : 60_000;
  const t0 = performance.now();
  const created = await api<CreatedSession>(o.url + apiPath.sessions(), { method: "POST", body: { project: o.project, rev } });
  const term = await LoadTerminal.open(o.url, created.wsPath, 120, 40);
  try {
    await term.until("menuconfig's first frame", () => term.messages.some((m) => m.type === "ready") && term.screen().includes(o.title), wait);
    out.firstFrameMs.push(Math.round(performance.now() - t0));
    const p = plan(i);
    const keys = [...Array<string>(p.downs).fill(key.down), key.space];
    while (keys.length < o.keystrokes) keys.push(keys.length % 2 ? key.up : key.down);
    // Filler pairs end on the row the toggle was on; an odd filler count would leave it one row off, harmless.
    const think = o.thinkMs ?? 150;
    for (const k of keys.slice(0, Math.max(o.keystrokes, p.downs + 1))) {
      if (think) await sleep(think * (0.5 + Math.random()));
      out.keystrokeMs.push(await term.press(k, wait));
    }
    const s0 = performance.now();
    term.type(key.save);
    await term.until("the save dialog", () => term.screen().includes("Filename to save"), wait);
    term.type(key.enter);
    await term.until("'Configuration saved'", () => term.screen().includes("Configuration saved to"), wait);
    term.type(key.enter);
    const savedBefore = term.messages.filter((m) => m.type === "saved").length;
    term.save();
    const saved = await term.until("the 'saved' message", () => term.messages.filter((m) => m.type === "saved")[savedBefore], wait);
    out.saveMs.push(Math.round(performance.now() - s0));
    const configId = String(saved.configId);
    const stored = await api<StoredConfig>(o.url + apiPath.config(configId));
    const ok = stored.text.split("\n").includes(p.expect);
    out.saves.push({ session: i, configId, stored: ok });
    if (!ok) out.errors.push(`session ${i}: config ${configId} in the store lacks '${p.expect}'`);
  } finally {
    term.close();
  }
}

async function runBuild(b: number, o: LoadOptions, rev: string, out: LoadResult): Promise<void> {
  const t0 = performance.now();
  const text = `CONFIG_BOARD_NAME="load-${b}-${Date.now().toString(36)}"\n`;
  const config = await api<CreatedConfig>(o.url + apiPath.configs(), { method: "POST", body: { project: o.project, rev, text } });
  const build = await api<Build>(o.url + apiPath.builds(), { method: "POST", body: { project: o.project, rev, configId: config.id } });
  let state = build.state;
  while (!finishedBuildStates.includes(state)) {
    await sleep(300);
    state = (await api<Build>(o.url + apiPath.build(build.id))).state;
  }
  out.builds.push({ id: build.id, state, ms: Math.round(performance.now() - t0) });
  if (state !== "succeeded") out.errors.push(`build ${build.id}: ${state}`);
}

/** Run the scenario; never throws for what went wrong under load: that is counted in `errors`. */
export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const t0 = performance.now();
  const out: LoadResult = {
    sessions: o.sessions,
    errors: [],
    firstFrameMs: [],
    keystrokeMs: [],
    saveMs: [],
    saves: [],
    builds: [],
    memory: { serverMB: 0, peakTreeMB: 0, peakProcesses: 0 },
    durationMs: 0,
  };
  const rev = o.rev ?? (await api<Revision[]>(o.url + apiPath.revisions(o.project, { limit: 1 })))[0]?.sha;
  if (!rev) throw new Error(`project ${o.project} has no revisions`);
  const sampleMemory = () => {
    if (!o.serverPid) return;
    const m = treeRssMB(o.serverPid);
    out.memory.serverMB = Math.max(out.memory.serverMB, m.rootMB);
    out.memory.peakTreeMB = Math.max(out.memory.peakTreeMB, m.treeMB);
    out.memory.peakProcesses = Math.max(out.memory.peakProcesses, m.processes);
  };
  const sampler = setInterval(sampleMemory, 500);
  const fail = (what: string) => (e: unknown) => void out.errors.push(`${what}: ${(e as Error).message.split("\n")[0]}`);
  const work = Promise.all([
    ...Array.from({ length: o.builds }, (_, b) => runBuild(b, o, rev, out).catch(fail(`build ${b}`))),
    ...Array.from({ length: o.sessions }, async (_, i) => {
      await sleep(i * (o.staggerMs ?? 50));
      o.log?.(`session ${i} starting`);
      await runSession(i, o, rev, out).catch(fail(`session ${i}`));
    }),
  ]);
  let timer: NodeJS.Timeout | undefined;
  const finished = await Promise.race([work.then(() => true), new Promise<false>((r) => (timer = setTimeout(() => r(false), o.timeoutMs)))]);
  clearTimeout(timer);
  clearInterval(sampler);
  sampleMemory();
  if (!finished) out.errors.push(`the run did not finish within ${o.timeoutMs} ms (${out.saves.length}/${o.sessions} sessions saved, ${out.builds.length}/${o.builds} builds done)`);
  out.durationMs = Math.round(performance.now() - t0);
  return out;
}

/** The load report as a small text table (test output, bench log). */
export function loadTable(r: LoadResult): string {
  const s = (xs: number[]) => (xs.length ? stats(xs) : undefined);
  const line = (name: string, xs: number[]) => {
    const v = s(xs);
    return `${name.padEnd(22)} ${v ? `min ${fmt(v.min)}  median ${fmt(v.median)}  p95 ${fmt(v.p95)}  max ${fmt(v.max)} ms (${v.n})` : "none"}`;
  };
  return [
    `load: ${r.sessions} sessions, ${r.builds.length} builds, ${fmt(r.durationMs / 1000)} s`,
    `${"errors".padEnd(22)} ${r.errors.length}${r.errors.length ? `: ${r.errors.slice(0, 5).join("; ")}` : ""}`,
    line("first frame", r.firstFrameMs),
    line("keystroke to redraw", r.keystrokeMs),
    line("save round trip", r.saveMs),
    `${"saves in the store".padEnd(22)} ${r.saves.filter((x) => x.stored).length}/${r.sessions}`,
    `${"builds".padEnd(22)} ${r.builds.map((b) => `${b.state} in ${fmt(b.ms / 1000)} s`).join(", ") || "none"}`,
    `${"server memory".padEnd(22)} ${r.memory.serverMB} MB RSS; whole tree peak ${r.memory.peakTreeMB} MB over ${r.memory.peakProcesses} processes`,
  ].join("\n");
}
