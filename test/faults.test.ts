import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import Database from "better-sqlite3";
import crypto from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { processTree, survivors, type Proc } from "../bench/proctree";
import { writeFileAtomic } from "../server/core/fs-atomic";
import { freePort } from "./global-setup";
import { kbsBin, startKbs, type KbsProcess } from "./helpers/server";
import { TerminalClient } from "./helpers/terminal";
import { tmpDir } from "./helpers/tmp";

/**
 * The fault suite (issue 9 "Faults"): the whole system run as a user would, with
 * one part killed mid-work at a time. After each: nothing saved or built is lost,
 * no process of the killed part is left behind, and what the user sees says what
 * happened. Every fault adds a row to test-results/faults.md.
 */

interface FaultRow {
  fault: string;
  userSaw: string;
  dataLost: string;
  recoveryMs: number;
}
const rows: FaultRow[] = [];

afterAll(() => {
  const table = [
    "| fault | what the user saw | data lost | recovery time |",
    "|---|---|---|---:|",
    ...rows.map((r) => `| ${r.fault} | ${r.userSaw.replace(/\|/g, "\\|").replace(/\n/g, " ")} | ${r.dataLost} | ${r.recoveryMs < 1000 ? `${r.recoveryMs} ms` : `${(r.recoveryMs / 1000).toFixed(1)} s`} |`),
  ].join("\n");
  process.stdout.write(`\nfault suite\n${table}\n`);
  fs.mkdirSync("test-results", { recursive: true });
  fs.writeFileSync("test-results/faults.md", `# Fault suite\n\n${table}\n`);
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const title = "kbs demo firmware configuration";
const finalStates = new Set(["succeeded", "failed", "timed_out", "cancelled"]);

async function api<T = Record<string, unknown>>(base: string, p: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(base + p, body === undefined ? {} : { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* plain text */
  }
  return { status: res.status, body: parsed as T };
}

async function demoRev(base: string): Promise<string> {
  const r = await api<Array<{ sha: string }>>(base, "/api/projects/demo/revisions?limit=1");
  expect(r.status).toBe(200);
  return r.body[0]!.sha;
}

/** Store a config (a distinct board name makes a distinct build) and return its id. */
async function putConfig(base: string, rev: string, extra = ""): Promise<string> {
  const text = `CONFIG_BOARD_NAME="fault-${crypto.randomBytes(4).toString("hex")}"\n${extra}`;
  const r = await api<{ id: string }>(base, "/api/configs", { project: "demo", rev, text });
  expect(r.status, JSON.stringify(r.body)).toBeLessThan(300);
  return r.body.id;
}

async function requestBuild(base: string, rev: string, configId: string): Promise<string> {
  const r = await api<{ id: string }>(base, "/api/builds", { project: "demo", rev, configId });
  expect(r.status, JSON.stringify(r.body)).toBeLessThan(300);
  return r.body.id;
}

interface BuildView {
  id: string;
  state: string;
  attempt: number;
  errorSummary: string | null;
  artifacts: Array<{ name: string; sha256: string; url: string }>;
}

/** Poll a build until `until(state)` (default: a final state); the fetch may fail while a server restarts. */
async function waitBuild(base: () => string, id: string, until: (s: string) => boolean = (s) => finalStates.has(s), timeoutMs = 120_000): Promise<BuildView> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  for (;;) {
    try {
      const r = await api<BuildView>(base(), `/api/builds/${id}`);
      if (r.status === 200) {
        last = r.body.state;
        if (until(r.body.state)) return r.body;
      }
    } catch {
      /* server not up yet */
    }
    if (Date.now() > deadline) throw new Error(`build ${id} did not reach the wanted state in ${timeoutMs} ms (last: ${last})`);
    await sleep(250);
  }
}

/** Every artifact downloads and hashes to what the build record says. */
async function artifactsIntact(base: string, b: BuildView): Promise<boolean> {
  if (!b.artifacts.length) return false;
  for (const a of b.artifacts) {
    const res = await fetch(base + a.url);
    if (res.status !== 200) return false;
    const sha = crypto.createHash("sha256").update(Buffer.from(await res.arrayBuffer())).digest("hex");
    if (sha !== a.sha256) return false;
  }
  return true;
}

/** What must survive a fault: a saved config and a finished build. */
interface Before {
  rev: string;
  saved: string;
  savedText: string;
  finished: BuildView;
}

async function saveAndBuild(base: string): Promise<Before> {
  const rev = await demoRev(base);
  const saved = await putConfig(base, rev);
  const savedText = (await api<{ text: string }>(base, `/api/configs/${saved}`)).body.text;
  const finished = await waitBuild(() => base, await requestBuild(base, rev, saved));
  expect(finished.state).toBe("succeeded");
  return { rev, saved, savedText, finished };
}

/** The config reads back equal and the build's artifacts hash to its record. */
async function expectIntact(base: string, b: Before): Promise<void> {
  expect((await api<{ text: string }>(base, `/api/configs/${b.saved}`)).body.text).toBe(b.savedText);
  const kept = (await api<BuildView>(base, `/api/builds/${b.finished.id}`)).body;
  expect(kept.state).toBe("succeeded");
  expect(await artifactsIntact(base, kept)).toBe(true);
}

/** Processes that should have died with the killed part, after giving them a moment. */
async function orphansOf(procs: Proc[], timeoutMs = 5_000): Promise<Proc[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = survivors(procs);
    if (!left.length || Date.now() > deadline) return left;
    await sleep(100);
  }
}

/** An arrow key as the terminal sends it: curses turns on application cursor keys. */
function arrow(c: TerminalClient, dir: "up" | "down"): void {
  const code = dir === "up" ? "A" : "B";
  c.type(`\x1b${c.screen.term.modes.applicationCursorKeysMode ? "O" : "["}${code}`);
}

/** Open a session on the demo project and wait for menuconfig's top menu. */
async function openSession(base: string, rev: string): Promise<{ id: string; wsPath: string; client: TerminalClient }> {
  const r = await api<{ id: string; wsPath: string }>(base, "/api/sessions", { project: "demo", rev });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  const client = await TerminalClient.connect(base, r.body.wsPath, { cols: 120, rows: 40 });
  await client.untilText(title, 60_000);
  return { ...r.body, client };
}

/** Turn "Debug messages" on (six rows down) and save with menuconfig's own S; returns the stored config id. */
async function toggleDebugAndSave(c: TerminalClient): Promise<string> {
  for (let i = 0; i < 6; i++) arrow(c, "down");
  await c.untilText(/\[ \] Debug messages/);
  c.type(" ");
  await c.untilText(/\[\*\] Debug messages/);
  return saveWithS(c);
}

/** menuconfig's own save (S, Enter on the file name, Enter on "saved"); returns the id of the config kbs stored. */
async function saveWithS(c: TerminalClient): Promise<string> {
  const saved = c.messages.filter((m) => m.type === "saved").length;
  c.type("S");
  await c.untilText("Filename to save");
  c.type("\r");
  await c.untilText("Configuration saved to");
  c.type("\r");
  const msg = await c.untilMessage("saved", saved, 20_000);
  return String(msg.configId);
}

/** Redis servers and workers this file started: killed with it if a hook gives up. */
const children = new Set<ChildProcess>();
process.once("exit", () => {
  for (const c of children) c.kill("SIGKILL");
});
function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once("exit", () => children.delete(child));
  return child;
}

function startRedis(port: number, dir: string): ChildProcess {
  // appendfsync always: a killed Redis loses no acknowledged write, as a production setup would configure.
  return track(spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes", "--appendfsync", "always", "--dir", dir], { stdio: "ignore" }));
}

async function waitPort(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, "127.0.0.1", () => {
        s.end();
        resolve(true);
      });
      s.on("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${port}`);
    await sleep(50);
  }
}

function startWorker(dataDir: string, redisUrl: string): Promise<ChildProcess> {
  const child = track(
    spawn(process.execPath, [kbsBin, "worker", "--redis", redisUrl, "--workers", "1"], {
      env: { ...process.env, KBS_DATA_DIR: dataDir, KBS_UPSTREAMS: "0", KBS_LOG_LEVEL: "warn" },
      stdio: ["ignore", "pipe", "pipe"],
    }),
  );
  let out = "";
  child.stderr!.on("data", (d) => (out += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`kbs worker did not start:\n${out}`)), 60_000);
    child.stdout!.on("data", (d) => {
      out += d;
      if (out.includes("kbs worker:")) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.once("exit", (code) => reject(new Error(`kbs worker exited with ${code}:\n${out}`)));
  });
}

/** SIGTERM, and SIGKILL if it has not gone within 15 s (a stuck shutdown must not hang the suite). */
async function stopOrKill(child: ChildProcess): Promise<void> {
  child.kill("SIGTERM");
  const t = setTimeout(() => child.kill("SIGKILL"), 15_000);
  await killed(child);
  clearTimeout(t);
}

const killed = (child: ChildProcess) => new Promise<void>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once("exit", () => resolve())));

describe("faults in a session (embedded mode, one server)", () => {
  let kbs: KbsProcess;
  let rev: string;

  beforeAll(async () => {
    // No warm pool: the session's sandbox is then the only one in the server's process tree.
    kbs = await startKbs({ dataDir: tmpDir(), withNext: false, env: { KBS_POOL_SIZE: "0" } });
    rev = await demoRev(kbs.url);
  });
  afterAll(async () => {
    await kbs?.stop();
  });

  it("a session's sandbox killed: the user is told, the last saved config is kept, nothing is left running", { timeout: 120_000 }, async () => {
    const s = await openSession(kbs.url, rev);
    const configId = await toggleDebugAndSave(s.client);
    // The session's own sandbox (a primed one for the same tree may be running beside it): its bwrap names its dir.
    const info = (await (await fetch(`${kbs.url}/api/sessions/${s.id}`)).json()) as { sandbox: string };
    const sandbox = processTree(kbs.child.pid!).filter((p) => p.pid !== kbs.child.pid);
    const top = sandbox.find((p) => p.comm === "bwrap" && fs.readFileSync(`/proc/${p.pid}/cmdline`, "utf8").includes(`/${info.sandbox}/`));
    expect(top, `no bwrap of ${info.sandbox} under the server: ${sandbox.map((p) => p.comm).join(", ")}`).toBeDefined();
    // Kill only the sandbox's outermost process: what it started must go with it.
    const victims = processTree(top!.pid);
    const t0 = Date.now();
    process.kill(top!.pid, "SIGKILL");
    const error = await s.client.untilMessage("error", 0, 20_000);
    await s.client.untilMessage("exit", 0, 20_000);
    const recoveryMs = Date.now() - t0;
    expect(error.code).toBe("sandbox_failed");
    expect(String(error.message)).toMatch(/saved config is kept/);
    const stored = await api<{ text: string }>(kbs.url, `/api/configs/${configId}`);
    expect(stored.status).toBe(200);
    expect(stored.body.text).toContain("CONFIG_ENABLE_DEBUG=y");
    const sessionConfig = await fetch(`${kbs.url}/api/sessions/${s.id}/config`);
    expect(await sessionConfig.text()).toContain("CONFIG_ENABLE_DEBUG=y");
    expect(await orphansOf(victims)).toEqual([]);
    s.client.close();
    rows.push({ fault: "session sandbox killed (SIGKILL)", userSaw: `error sandbox_failed: "${String(error.message)}", then exit`, dataLost: "none", recoveryMs });
  });

  it("the WebSocket connection dropped: reconnecting restores the screen and the session goes on", { timeout: 120_000 }, async () => {
    const s = await openSession(kbs.url, rev);
    for (let i = 0; i < 7; i++) arrow(s.client, "down");
    s.client.type("\r");
    await s.client.untilText("Heater control");
    const before = s.client.screen.text();
    // A dropped connection: no close frame, the TCP connection just ends.
    s.client.ws.terminate();
    const t0 = Date.now();
    const again = await TerminalClient.connect(kbs.url, s.wsPath, { cols: 120, rows: 40 });
    await again.untilMessage("snapshot", 0, 20_000);
    await again.untilText("Heater control", 20_000);
    const recoveryMs = Date.now() - t0;
    expect(again.screen.text()).toBe(before);
    // The session still works: toggle the heater off and save.
    again.type(" ");
    await again.untilText(/\[ \] Heater control/);
    const stored = await api<{ text: string }>(kbs.url, `/api/configs/${await saveWithS(again)}`);
    expect(stored.body.text).toContain("# CONFIG_FEATURE_HEATER is not set");
    again.close();
    rows.push({ fault: "WebSocket connection dropped", userSaw: "on reconnect: a snapshot, the same screen (Optional features menu), typing and saving go on", dataLost: "none", recoveryMs });
  });

  it("a build fills its disk budget: the user is told plainly, nothing else is affected", { timeout: 240_000 }, async () => {
    // Not this server: its own, with a small per-build disk cap (KBS_BUILD_DISK_MB).
    const dataDir = tmpDir();
    const small = await startKbs({ dataDir, withNext: false, env: { KBS_POOL_SIZE: "0", KBS_BUILD_DISK_MB: "16", KBS_BUILD_WORKERS: "1" } });
    try {
      const r = await demoRev(small.url);
      const good = await waitBuild(() => small.url, await requestBuild(small.url, r, await putConfig(small.url, r)));
      expect(good.state).toBe("succeeded");
      // The config's compiler flags reach the build's shell: this one writes 64 MB into the build's tmpfs.
      const filler = 'CONFIG_HOST_OPTIMIZE="-O2 --version >/dev/null && head -c 67108864 /dev/zero > out/fill && gcc -O2"\n';
      const t0 = Date.now();
      const full = await waitBuild(() => small.url, await requestBuild(small.url, r, await putConfig(small.url, r, filler)));
      expect(full.state).toBe("failed");
      expect(full.errorSummary ?? "").toMatch(/disk|space/i);
      const after = await waitBuild(() => small.url, await requestBuild(small.url, r, await putConfig(small.url, r)));
      const recoveryMs = Date.now() - t0;
      expect(after.state).toBe("succeeded");
      const kept = await api<BuildView>(small.url, `/api/builds/${good.id}`);
      expect(kept.body.state).toBe("succeeded");
      expect(await artifactsIntact(small.url, kept.body)).toBe(true);
      // No pool, no running build: no sandbox may be left under the server.
      expect(await orphansOf(processTree(small.child.pid!).filter((p) => p.comm === "bwrap"))).toEqual([]);
      rows.push({ fault: "a build fills its disk budget (16 MB)", userSaw: `build failed: "${(full.errorSummary ?? "").split("\n")[0]}"`, dataLost: "none", recoveryMs });
    } finally {
      await small.stop();
    }
  });
});

describe("faults in distributed mode (Redis queue, separate kbs worker)", () => {
  let redis: ChildProcess;
  let redisPort: number;
  let redisDir: string;
  let kbs: KbsProcess;
  let worker: ChildProcess | undefined;
  let dataDir: string;
  let rev: string;
  let redisUrl: string;

  // Its own Redis (not the suite's shared one): this test stops it.
  beforeAll(async () => {
    redisPort = await freePort();
    redisDir = tmpDir("kbs-fault-redis-");
    redis = startRedis(redisPort, redisDir);
    await waitPort(redisPort);
    redisUrl = `redis://127.0.0.1:${redisPort}`;
    dataDir = tmpDir();
    kbs = await startKbs({ dataDir, withNext: false, env: { KBS_REDIS_URL: redisUrl, KBS_BUILD_WORKERS: "0", KBS_POOL_SIZE: "0" } });
    rev = await demoRev(kbs.url);
    worker = await startWorker(dataDir, redisUrl);
  });
  afterAll(async () => {
    if (worker) await stopOrKill(worker);
    if (kbs) await stopOrKill(kbs.child);
    redis?.kill("SIGKILL");
  });

  it("a build worker killed mid-build: the job is retried and finishes once", { timeout: 180_000 }, async () => {
    const id = await requestBuild(kbs.url, rev, await putConfig(kbs.url, rev));
    await waitBuild(() => kbs.url, id, (s) => s === "running" || finalStates.has(s));
    const tree = processTree(worker!.pid!);
    const t0 = Date.now();
    worker!.kill("SIGKILL");
    await killed(worker!);
    const during = (await api<BuildView>(kbs.url, `/api/builds/${id}`)).body.state;
    expect(await orphansOf(tree)).toEqual([]);
    worker = await startWorker(dataDir, redisUrl);
    const done = await waitBuild(() => kbs.url, id);
    const recoveryMs = Date.now() - t0;
    expect(done.state).toBe("succeeded");
    expect(done.attempt).toBeGreaterThanOrEqual(2);
    expect(await artifactsIntact(kbs.url, done)).toBe(true);
    rows.push({ fault: "kbs worker killed mid-build (SIGKILL)", userSaw: `build stayed '${during}', then succeeded on attempt ${done.attempt}`, dataLost: "none", recoveryMs });
  });

  it("Redis stopped and started again: queued and running builds resume", { timeout: 240_000 }, async () => {
    const a = await requestBuild(kbs.url, rev, await putConfig(kbs.url, rev));
    await waitBuild(() => kbs.url, a, (s) => s === "running" || finalStates.has(s));
    const t0 = Date.now();
    redis.kill("SIGKILL");
    await killed(redis);
    // While Redis is down the user may still ask for a build: it is accepted and waits, refused plainly, or held open.
    const configB = await putConfig(kbs.url, rev);
    const asked = Date.now();
    let answeredMs: number | undefined;
    const during = api<{ id?: string; state?: string; error?: { message: string } }>(kbs.url, "/api/builds", { project: "demo", rev, configId: configB }).finally(
      () => (answeredMs = Date.now() - asked),
    );
    const sawA = (await api<BuildView>(kbs.url, `/api/builds/${a}`)).body.state;
    await sleep(3_000);
    const answeredWhileDown = answeredMs !== undefined;
    redis = startRedis(redisPort, redisDir);
    await waitPort(redisPort);
    const answer = await during;
    const b = answer.status < 300 ? answer.body.id! : await requestBuild(kbs.url, rev, configB);
    const [doneA, doneB] = await Promise.all([waitBuild(() => kbs.url, a, undefined, 180_000), waitBuild(() => kbs.url, b, undefined, 180_000)]);
    const recoveryMs = Date.now() - t0;
    expect(doneA.state).toBe("succeeded");
    expect(doneB.state).toBe("succeeded");
    const newBuild =
      answer.status >= 300
        ? `a new build was refused (HTTP ${answer.status}: "${answer.body.error?.message}")`
        : answeredWhileDown
          ? `a new build was accepted as '${answer.body.state}' while Redis was down`
          : `a new build request got no answer until Redis returned (${((answeredMs ?? 0) / 1000).toFixed(1)} s), then was accepted`;
    rows.push({ fault: "Redis killed (SIGKILL) for 3 s, restarted", userSaw: `running build stayed '${sawA}'; ${newBuild}; both succeeded after Redis returned`, dataLost: "none", recoveryMs });
  });
});

describe("the whole server killed (embedded mode)", () => {
  it("after SIGKILL and a restart on the same data dir, saved configs and finished builds are there and interrupted builds run", { timeout: 240_000 }, async () => {
    const dataDir = tmpDir();
    const env = { KBS_POOL_SIZE: "1", KBS_BUILD_WORKERS: "1" };
    let kbs = await startKbs({ dataDir, withNext: false, env });
    try {
      const before = await saveAndBuild(kbs.url);
      const { rev } = before;
      const running = await requestBuild(kbs.url, rev, await putConfig(kbs.url, rev));
      const queued = await requestBuild(kbs.url, rev, await putConfig(kbs.url, rev));
      await waitBuild(() => kbs.url, running, (s) => s === "running" || finalStates.has(s));
      const tree = processTree(kbs.child.pid!);
      await kbs.kill();
      const t0 = Date.now();
      expect(await orphansOf(tree)).toEqual([]);
      kbs = await startKbs({ dataDir, withNext: false, env });
      const upMs = Date.now() - t0;
      await expectIntact(kbs.url, before);
      const afterRestart = (await api<BuildView>(kbs.url, `/api/builds/${running}`)).body.state;
      const [r, q] = await Promise.all([waitBuild(() => kbs.url, running), waitBuild(() => kbs.url, queued)]);
      const recoveryMs = Date.now() - t0;
      expect(r.state).toBe("succeeded");
      expect(q.state).toBe("succeeded");
      rows.push({
        fault: "whole server killed (SIGKILL), restarted on the same data dir",
        userSaw: `server back in ${(upMs / 1000).toFixed(1)} s; the interrupted build showed '${afterRestart}' and both it and the queued one succeeded`,
        dataLost: "none",
        recoveryMs,
      });
    } finally {
      await kbs.stop();
    }
  });
});

/** Fill the filesystem holding `file` until it refuses (ENOSPC), leaving ~0 bytes free. */
function fillDisk(file: string): void {
  const fd = fs.openSync(file, "w");
  try {
    for (const size of [1 << 20, 4096, 1]) {
      const chunk = Buffer.alloc(size, 0x55);
      try {
        for (;;) fs.writeSync(fd, chunk);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "ENOSPC") throw e;
      }
    }
  } finally {
    fs.closeSync(fd);
  }
}

describe("the data disk full (a small tmpfs as KBS_DATA_DIR)", () => {
  // A real full disk needs a filesystem of its own: root mounts a 48 MB tmpfs for it.
  const mountPoint = fs.mkdtempSync(path.join(os.tmpdir(), "kbs-fault-disk-"));
  const mounted = process.getuid?.() === 0 && spawnSync("mount", ["-t", "tmpfs", "-o", "size=48m", "tmpfs", mountPoint]).status === 0;
  afterAll(() => {
    if (mounted) spawnSync("umount", ["-l", mountPoint]);
    fs.rmSync(mountPoint, { recursive: true, force: true });
  });

  it.skipIf(!mounted)("(needs root to mount a tmpfs) nothing saved before is lost; saves and builds say the disk is full; space freed, all works again", { timeout: 300_000 }, async () => {
    const dataDir = path.join(mountPoint, "data");
    const env = { KBS_POOL_SIZE: "0", KBS_BUILD_WORKERS: "1" };
    let kbs = await startKbs({ dataDir, withNext: false, env });
    try {
      const before = await saveAndBuild(kbs.url);
      const { rev, savedText } = before;
      // Stored before the disk fills, built while it is full.
      const unbuilt = await putConfig(kbs.url, rev);
      const s = await openSession(kbs.url, rev);
      const intact = () => expectIntact(kbs.url, before);
      // A build running when the disk fills (its compile step waits 3 s first).
      const slow = 'CONFIG_HOST_OPTIMIZE="-O2 --version >/dev/null && sleep 3 && gcc -O2"\n';
      const running = await requestBuild(kbs.url, rev, await putConfig(kbs.url, rev, slow));
      await waitBuild(() => kbs.url, running, (st) => st === "running" || finalStates.has(st));

      const filler = path.join(dataDir, "filler");
      const configFile = path.join(mountPoint, "kept.config");
      fs.writeFileSync(configFile, savedText);
      fillDisk(filler);

      // A config file kbs writes (kbs menuconfig --out) is whole or not written: the old one stays, no half file.
      expect(() => writeFileAtomic(configFile, `${savedText}${"#\n".repeat(8192)}`)).toThrow(/ENOSPC/);
      expect(fs.readFileSync(configFile, "utf8")).toBe(savedText);
      expect(fs.readdirSync(mountPoint).sort()).toEqual(["data", "kept.config"]);

      const put = await api<{ error: { code: string; message: string } }>(kbs.url, "/api/configs", { project: "demo", rev, text: 'CONFIG_BOARD_NAME="disk-full"\n' });
      expect(put.status, JSON.stringify(put.body)).toBe(507);
      expect(put.body.error.code).toBe("disk_full");
      expect(put.body.error.message).toMatch(/disk is full; nothing was stored/);

      // menuconfig's own save: the user is told, and the session goes on.
      for (let i = 0; i < 6; i++) arrow(s.client, "down");
      await s.client.untilText(/\[ \] Debug messages/);
      s.client.type(" ");
      await s.client.untilText(/\[\*\] Debug messages/);
      const errors = s.client.messages.filter((m) => m.type === "error").length;
      s.client.type("S");
      await s.client.untilText("Filename to save");
      s.client.type("\r");
      const sessionError = await s.client.untilMessage("error", errors, 20_000);
      expect(sessionError.code).toBe("disk_full");
      expect(String(sessionError.message)).toMatch(/disk is full/);

      // menuconfig's own write went to the session's dir under the staging root, not the data disk: it succeeded,
      // kbs could not store it and said so; the session is still usable.
      await s.client.untilText("Configuration saved to");
      s.client.type("\r");
      const stored = s.client.messages.filter((m) => m.type === "saved").length;
      await s.client.until("the save dialog closed", () => !s.client.screen.text().includes("Filename to save") && /\[\*\] Debug messages/.test(s.client.screen.text()));

      // A build that needs the disk: refused plainly, or failed saying so; the server keeps serving.
      const build = await api<{ id?: string; error?: { code: string; message: string } }>(kbs.url, "/api/builds", { project: "demo", rev, configId: unbuilt });
      let buildSaw: string;
      if (build.status >= 300) {
        expect(build.body.error?.code).toBe("disk_full");
        buildSaw = `build refused (HTTP ${build.status} ${build.body.error?.code})`;
      } else {
        const failed = await waitBuild(() => kbs.url, build.body.id!);
        expect(failed.state).toBe("failed");
        expect(failed.errorSummary ?? "").toMatch(/disk is full/);
        buildSaw = `build failed: "${(failed.errorSummary ?? "").split("\n")[0]}"`;
      }
      // It fails saying so, or (space the server freed after failed writes sufficed) succeeds whole.
      const runningDone = await waitBuild(() => kbs.url, running);
      if (runningDone.state === "succeeded") expect(await artifactsIntact(kbs.url, runningDone)).toBe(true);
      else {
        expect(runningDone.state).toBe("failed");
        expect(runningDone.errorSummary ?? "").toMatch(/disk is full/);
      }
      const runningSaw = runningDone.state === "succeeded" ? "succeeded whole" : `failed: "${(runningDone.errorSummary ?? "").split("\n")[0]}"`;
      expect(await (await fetch(`${kbs.url}/healthz`)).text()).toBe("ok\n");
      await intact();

      // Space freed: the next save is stored.
      fs.rmSync(filler);
      const t0 = Date.now();
      // What menuconfig wrote while the disk was full is stored once there is room, without another save.
      const recovered = String((await s.client.untilMessage("saved", stored, 20_000)).configId);
      const recoveryMs = Date.now() - t0;
      expect((await api<{ text: string }>(kbs.url, `/api/configs/${recovered}`)).body.text).toContain("CONFIG_ENABLE_DEBUG=y");
      s.client.close();
      await intact();

      // A restart on the data dir reads all of it back, and SQLite says it is consistent.
      await kbs.stop();
      const db = new Database(path.join(dataDir, "kbs.sqlite"), { readonly: true });
      try {
        expect(db.pragma("integrity_check", { simple: true })).toBe("ok");
      } finally {
        db.close();
      }
      kbs = await startKbs({ dataDir, withNext: false, env });
      await intact();
      expect((await api<{ text: string }>(kbs.url, `/api/configs/${recovered}`)).body.text).toContain("CONFIG_ENABLE_DEBUG=y");
      rows.push({
        fault: "data disk full (48 MB tmpfs filled to ENOSPC)",
        userSaw: `POST /api/configs: ${put.status} ${put.body.error.code} "${put.body.error.message}"; session save: error ${String(sessionError.code)}, session went on; the running build ${runningSaw}; a new ${buildSaw}; /healthz ok; once space was freed, what menuconfig had written was stored without another save`,
        dataLost: "none",
        recoveryMs,
      });
    } finally {
      await kbs.stop();
    }
  });
});

// Every test above cleans what it started; this checks the tree of this test process too.
afterAll(async () => {
  const mine = processTree(process.pid).filter((p) => p.pid !== process.pid && ["bwrap", "redis-server"].includes(p.comm));
  expect(await orphansOf(mine, 10_000)).toEqual([]);
});
