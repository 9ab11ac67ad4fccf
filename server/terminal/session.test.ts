import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Disposable, LaunchJob, WarmSandbox } from "../sandbox/types";
import { CONFIG_NAME, DISK_FULL_RETRY_MS, SAVE_DEBOUNCE_MS } from "./config-watcher";
import type { Frontend } from "./frontend";
import { PRIME_QUIET_MS, PRIME_SIZE } from "./priming";
import type { ServerMessage } from "../../contracts/terminal-protocol";
import { LEFT_GRACE_MS, Session, type EndReason, type SessionOptions, type SessionOwner, type TerminalClient } from "./session";

/**
 * The Session state machine driven by hand: a fake sandbox (its pty is a stream the test
 * writes to), fake clients, and a fake clock. The output dir is a real one, so the config
 * watcher's fs.watch and its careful read are the real ones.
 */

// Real timers for polling the file system's events while the session's clock is fake.
const realSetTimeout = globalThis.setTimeout;

async function poll(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const until = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => realSetTimeout(r, 5));
  }
}

/** Let the fake clock run `ms` (xterm's parser and the session's timers run on it). */
const tick = (ms = 0) => vi.advanceTimersByTimeAsync(ms);

/** Attach, letting the clock run while the screen's snapshot is parsed. */
async function attach(s: Session, c: TerminalClient, cols = 100, rows = 30): Promise<void> {
  let done = false;
  const attached = s.attach(c, cols, rows).finally(() => (done = true));
  for (let i = 0; !done; i++) {
    if (i > 1000) throw new Error("attach did not finish");
    await tick(1);
  }
  await attached;
}

/** An end stores the last config (real file I/O) before it is over. */
const untilEnded = (s: Session) => poll("the session to end", () => s.state === "ended");

class FakeSandbox implements WarmSandbox {
  readonly id = "fake-sandbox";
  readonly backend = "fake";
  readonly image = "fake";
  readonly pid = process.pid;
  readonly inDir: string;
  readonly outDir: string;
  readonly launches: LaunchJob[] = [];
  readonly input: string[] = [];
  readonly sizes: Array<[number, number]> = [];
  paused = false;
  killed = false;
  /** What `requestSave` does; undefined: the job cannot be asked (mconf). */
  onSaveRequest: (() => void) | undefined;
  private readonly dataListeners = new Set<(d: Buffer) => void>();
  private readonly exitListeners = new Set<(e: { code: number | null; signal: number | null }) => void>();

  constructor(root: string) {
    this.inDir = path.join(root, "in");
    this.outDir = path.join(root, "out");
    fs.mkdirSync(this.inDir);
    fs.mkdirSync(this.outDir);
  }

  launch(job: LaunchJob): void {
    this.launches.push(job);
  }
  write(data: string | Buffer): void {
    this.input.push(data.toString());
  }
  resize(cols: number, rows: number): void {
    this.sizes.push([cols, rows]);
  }
  onData(cb: (data: Buffer) => void): Disposable {
    this.dataListeners.add(cb);
    return { dispose: () => this.dataListeners.delete(cb) };
  }
  onExit(cb: (e: { code: number | null; signal: number | null }) => void): Disposable {
    this.exitListeners.add(cb);
    return { dispose: () => this.exitListeners.delete(cb) };
  }
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
  }
  get requestSave(): (() => boolean) | undefined {
    const act = this.onSaveRequest;
    return act && (() => (act(), true));
  }
  kill(): Promise<void> {
    this.killed = true;
    return Promise.resolve();
  }

  /** The frontend prints. */
  pty(text: string): void {
    for (const cb of this.dataListeners) cb(Buffer.from(text));
  }
  exit(code: number | null, signal: number | null = 0): void {
    for (const cb of this.exitListeners) cb({ code, signal });
  }
  /** menuconfig writes its config (the file is replaced, as menuconfig does). */
  writeConfig(text: string): void {
    const tmp = path.join(this.outDir, ".config.tmp");
    fs.writeFileSync(tmp, text);
    fs.renameSync(tmp, path.join(this.outDir, CONFIG_NAME));
  }
}

class FakeClient implements TerminalClient {
  readonly bytes: Buffer[] = [];
  readonly messages: ServerMessage[] = [];
  closed: { code: number; reason: string } | undefined;
  bufferedAmount = 0;
  sendBytes(data: Buffer): void {
    this.bytes.push(data);
  }
  sendMessage(msg: ServerMessage): void {
    this.messages.push(msg);
  }
  close(code: number, reason: string): void {
    this.closed = { code, reason };
  }
  text(): string {
    return Buffer.concat(this.bytes).toString("utf8");
  }
  errors(): string[] {
    return this.messages.flatMap((m) => (m.type === "error" ? [m.code] : []));
  }
  saved(): string[] {
    return this.messages.flatMap((m) => (m.type === "saved" ? [m.configId] : []));
  }
}

class FakeOwner implements SessionOwner {
  readonly stored: string[] = [];
  readonly ends: EndReason[] = [];
  /** Errors the next stores throw, in order. */
  readonly failures: Error[] = [];
  constructor(
    readonly id: string,
    readonly startText: string | undefined = undefined,
  ) {}
  store(text: string): Promise<string> {
    const failure = this.failures.shift();
    if (failure) return Promise.reject(failure);
    this.stored.push(text);
    return Promise.resolve(`config-${this.stored.indexOf(text)}`);
  }
  complete(startText: string): Promise<string> {
    return Promise.resolve(`${startText}CONFIG_COMPLETED=y\n`);
  }
  onEnd(reason: EndReason): void {
    this.ends.push(reason);
  }
}

const mconf: Frontend = { argv: ["mconf", "Kconfig"], minCols: 80, minRows: 19, source: "system" };
const limits = { idleMs: 60_000, maxMs: 600_000, graceMs: 30_000 };
const ALT_SCREEN = "\x1b[?1049h";

describe("Session", () => {
  let root: string;
  let sandbox: FakeSandbox;
  let owner: FakeOwner;
  const sessions: Session[] = [];

  beforeEach(() => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "Date"] });
    root = fs.mkdtempSync(path.join(os.tmpdir(), "kbs-session-"));
    sandbox = new FakeSandbox(root);
    owner = new FakeOwner("s1");
  });

  afterEach(async () => {
    for (const s of sessions.splice(0)) await s.end("shutdown");
    vi.useRealTimers();
    fs.rmSync(root, { recursive: true, force: true });
  });

  function options(over: Partial<SessionOptions> = {}): SessionOptions {
    return { kconfigHash: "hash", sandbox, frontend: mconf, job: { extract: [], cwd: "/work", argv: mconf.argv, env: {} }, limits, flow: { high: 1000, low: 100 }, dataDir: root, ...over };
  }

  function start(over: Partial<SessionOptions> = {}): Session {
    const s = new Session(options(over), owner);
    sessions.push(s);
    return s;
  }

  /** A client attached to a fresh session, menuconfig launched and drawn. */
  async function live(text = "Main menu"): Promise<{ s: Session; c: FakeClient }> {
    const s = start();
    const c = new FakeClient();
    await attach(s, c);
    sandbox.pty(`${ALT_SCREEN}${text}`);
    return { s, c };
  }

  it("waits for a client, then launches at the client's size and passes output and input through", async () => {
    const s = start();
    expect(s.state).toBe("starting");
    expect(s.lingersUntil).toBe(Date.now() + limits.graceMs);
    expect(sandbox.launches).toEqual([]);
    const c = new FakeClient();
    await s.attach(c, 100, 30);
    expect(s.state).toBe("live");
    expect(s.lingersUntil).toBeUndefined();
    expect(c.messages[0]).toEqual({ type: "ready", session: "s1", kconfigHash: "hash" });
    expect(sandbox.launches).toMatchObject([{ cols: 100, rows: 30, argv: mconf.argv }]);
    sandbox.pty("hello");
    expect(c.text()).toBe("hello");
    s.input(c, Buffer.from("y"));
    s.input(new FakeClient(), Buffer.from("not its client"));
    expect(sandbox.input).toEqual(["y"]);
  });

  it("a client that never connects: the session ends when the grace period is over", async () => {
    const s = start();
    await tick(limits.graceMs);
    await untilEnded(s);
    expect(owner.ends).toEqual(["disconnected"]);
    expect(sandbox.killed).toBe(true);
  });

  it("a terminal too small for the frontend gets a message; a resize that fits launches it (the last of a storm)", async () => {
    const s = start();
    const c = new FakeClient();
    await s.attach(c, 60, 15);
    expect(s.state).toBe("too_small");
    expect(c.errors()).toEqual(["terminal_too_small"]);
    expect(c.text()).toContain("menuconfig needs a terminal of at least 80x19; this one is 60x15");
    expect(sandbox.launches).toEqual([]);
    s.resize(70, 20);
    s.resize(90, 25);
    s.resize(120, 35);
    await tick(15);
    expect(s.state).toBe("live");
    expect(sandbox.launches).toMatchObject([{ cols: 120, rows: 35 }]);
  });

  it("a live session's resizes are coalesced, and one too small for the frontend is said", async () => {
    const { s, c } = await live();
    s.resize(101, 30);
    s.resize(102, 31);
    await tick(15);
    expect(sandbox.sizes).toEqual([[102, 31]]);
    s.resize(70, 10);
    await tick(15);
    expect(sandbox.sizes.at(-1)).toEqual([70, 10]);
    expect(c.errors()).toEqual(["terminal_too_small"]);
  });

  it("a dropped client leaves the pty running; a reconnect gets the screen back, then the output held while it was taken", async () => {
    const { s, c } = await live("Main menu");
    s.detach(c);
    expect(s.state).toBe("detached");
    expect(s.lingersUntil).toBe(Date.now() + limits.graceMs);
    sandbox.pty("\r\nwhile away");
    await tick(limits.graceMs - 1000);

    const again = new FakeClient();
    const attached = attach(s, again, 90, 25);
    // Output during the snapshot is held and follows it.
    sandbox.pty("\r\nafter");
    await attached;
    expect(s.state).toBe("live");
    expect(again.messages.map((m) => m.type)).toEqual(["ready", "snapshot"]);
    expect(again.bytes[0]!.subarray(0, 2).toString()).toBe("\x1bc");
    const snapshot = again.bytes[0]!.toString();
    expect(snapshot).toContain("Main menu");
    expect(snapshot).toContain("while away");
    expect(snapshot).not.toContain("after");
    expect(again.bytes.slice(1).map(String)).toEqual(["\r\nafter"]);
    // The frontend redraws at the new client's size; the grace period no longer runs.
    expect(sandbox.sizes).toEqual([[90, 25]]);
    await tick(limits.graceMs);
    expect(s.active).toBe(true);
  });

  it("a second client replaces the first, which is told and closed", async () => {
    const { s, c } = await live();
    const other = new FakeClient();
    await attach(s, other);
    expect(c.errors()).toEqual(["replaced"]);
    expect(c.closed).toEqual({ code: 4409, reason: "replaced by a newer connection" });
    // The replaced socket's close is not a drop of the session.
    s.detach(c);
    expect(s.state).toBe("live");
    sandbox.pty("new");
    expect(other.bytes.at(-1)!.toString()).toBe("new");
  });

  it("a drop after the page said it leaves waits only the short grace; a reload in time keeps it", async () => {
    const { s, c } = await live();
    s.pageLeft();
    s.detach(c);
    expect(s.lingersUntil).toBe(Date.now() + LEFT_GRACE_MS);
    await tick(LEFT_GRACE_MS - 1);
    const reload = new FakeClient();
    await attach(s, reload);
    s.detach(reload);
    // Connected again, the page's leaving is forgotten: the whole grace period.
    expect(s.lingersUntil).toBe(Date.now() + limits.graceMs);
    await tick(limits.graceMs);
    await untilEnded(s);
    expect(owner.ends).toEqual(["disconnected"]);
  });

  it("the page's beacon after the drop shortens the wait that runs", async () => {
    const { s, c } = await live();
    s.detach(c);
    s.pageLeft();
    expect(s.lingersUntil).toBe(Date.now() + LEFT_GRACE_MS);
    await tick(LEFT_GRACE_MS);
    await untilEnded(s);
    expect(owner.ends).toEqual(["disconnected"]);
  });

  it("ends after the idle limit without input, saying so in the terminal and as an error", async () => {
    const { s, c } = await live();
    await tick(limits.idleMs / 2);
    s.input(c, Buffer.from("j"));
    await tick(limits.idleMs - 1);
    expect(s.active).toBe(true);
    await tick(1);
    await untilEnded(s);
    expect(c.errors()).toEqual(["idle_timeout"]);
    expect(c.text()).toContain("[kbs] This session was closed after 60 seconds without input");
    expect(c.closed).toEqual({ code: 1000, reason: "idle" });
    expect(owner.ends).toEqual(["idle"]);
    expect(sandbox.killed).toBe(true);
  });

  it("ends at its maximum lifetime even while in use", async () => {
    const { s, c } = await live();
    for (let t = 0; t < limits.maxMs; t += limits.idleMs / 2) {
      s.input(c, Buffer.from("j"));
      await tick(limits.idleMs / 2);
    }
    await untilEnded(s);
    expect(c.errors()).toEqual(["max_lifetime"]);
    expect(c.text()).toContain("reached its maximum length of 10 minutes");
    expect(owner.ends).toEqual(["lifetime"]);
  });

  it("stores what menuconfig writes once its writes settle, and says saved", async () => {
    const { s, c } = await live();
    const timers = vi.getTimerCount();
    sandbox.writeConfig("CONFIG_A=y\n");
    sandbox.writeConfig("CONFIG_A=y\nCONFIG_B=y\n");
    await poll("the write to be seen", () => vi.getTimerCount() > timers);
    await tick(SAVE_DEBOUNCE_MS - 1);
    expect(owner.stored).toEqual([]);
    await tick(1);
    await poll("the store", () => c.saved().length > 0);
    expect(owner.stored).toEqual(["CONFIG_A=y\nCONFIG_B=y\n"]);
    expect(c.saved()).toEqual(["config-0"]);
    expect(s.latestConfigId).toBe("config-0");
  });

  it("a full data disk is said, and the config is stored once there is room, without another save", async () => {
    const { s, c } = await live();
    owner.failures.push(Object.assign(new Error("database or disk is full"), { code: "SQLITE_FULL" }));
    const timers = vi.getTimerCount();
    sandbox.writeConfig("CONFIG_A=y\n");
    await poll("the write to be seen", () => vi.getTimerCount() > timers);
    await tick(SAVE_DEBOUNCE_MS);
    await poll("disk_full", () => c.errors().includes("disk_full"));
    expect(owner.stored).toEqual([]);
    expect(s.active).toBe(true);
    await tick(DISK_FULL_RETRY_MS);
    await poll("the retried store", () => c.saved().length > 0);
    expect(owner.stored).toEqual(["CONFIG_A=y\n"]);
  });

  it("refuses a config that is not a plain file (a link out of the sandbox), and says so once", async () => {
    const { s, c } = await live();
    const link = (target: string) => {
      const timers = vi.getTimerCount();
      fs.rmSync(path.join(sandbox.outDir, CONFIG_NAME), { force: true });
      fs.symlinkSync(target, path.join(sandbox.outDir, CONFIG_NAME));
      return poll("the link to be seen", () => vi.getTimerCount() > timers);
    };
    await link("/etc/passwd");
    await tick(SAVE_DEBOUNCE_MS);
    await poll("config_refused", () => c.errors().includes("config_refused"));
    await link("/etc/hostname");
    await tick(SAVE_DEBOUNCE_MS);
    // The end waits for that check, and checks once more itself.
    await s.end("shutdown");
    expect(c.errors()).toEqual(["config_refused"]);
    expect(owner.stored).toEqual([]);
  });

  it("an explicit save before menuconfig wrote stores the start completed with the tree's defaults", async () => {
    owner = new FakeOwner("s1", "CONFIG_START=y\n");
    const { s, c } = await live();
    await s.save(c);
    expect(owner.stored).toEqual(["CONFIG_START=y\nCONFIG_COMPLETED=y\n"]);
    expect(c.saved()).toEqual(["config-0"]);
  });

  it("an explicit save asks the frontend to write where it can, and stores what it wrote", async () => {
    const { s, c } = await live();
    sandbox.onSaveRequest = () => {
      sandbox.writeConfig("CONFIG_ASKED=y\n");
      fs.writeFileSync(path.join(sandbox.outDir, ".kbs-saved"), "");
    };
    const saving = s.save(c);
    await poll("the save to be stored", () => c.saved().length > 0);
    await saving;
    expect(owner.stored).toEqual(["CONFIG_ASKED=y\n"]);
  });

  it("menuconfig exiting stores its last write and ends the session with its code", async () => {
    const { s, c } = await live();
    sandbox.writeConfig("CONFIG_LAST=y\n");
    sandbox.exit(0);
    await poll("the end", () => c.closed !== undefined);
    expect(owner.stored).toEqual(["CONFIG_LAST=y\n"]);
    expect(c.messages.filter((m) => m.type === "exit")).toEqual([{ type: "exit", code: 0 }]);
    expect(c.closed).toEqual({ code: 1000, reason: "exit" });
    expect(owner.ends).toEqual(["exit"]);
    await untilEnded(s);
  });

  it("a sandbox killed from outside is a failure the client is told about", async () => {
    const { c } = await live();
    sandbox.exit(137);
    await poll("the end", () => c.closed !== undefined);
    expect(c.errors()).toEqual(["sandbox_failed"]);
    expect(c.text()).toContain("The sandbox running menuconfig was killed (signal 9). Nothing had been saved yet.");
    expect(owner.ends).toEqual(["sandbox_failed"]);
  });

  it("a normal close by the client ends the session as closed; a later client is told it ended", async () => {
    const { s, c } = await live();
    s.leave(c);
    expect(s.state).toBe("closing");
    await poll("the end", () => owner.ends.length > 0);
    expect(owner.ends).toEqual(["closed"]);
    const late = new FakeClient();
    await attach(s, late);
    expect(late.errors()).toEqual(["unknown_session"]);
    expect(late.closed?.code).toBe(4404);
  });

  it("a slow client pauses the pty until its send buffer drains; a drop resumes it", async () => {
    const { s, c } = await live();
    c.bufferedAmount = 5000;
    sandbox.pty("x".repeat(10));
    expect(sandbox.paused).toBe(true);
    c.bufferedAmount = 0;
    await tick(20);
    expect(sandbox.paused).toBe(false);
    c.bufferedAmount = 5000;
    sandbox.pty("y");
    expect(sandbox.paused).toBe(true);
    s.detach(c);
    expect(sandbox.paused).toBe(false);
  });

  it("a primed session launches at the priming size, is ready once curses drew and went quiet, and redraws at the client's size when handed over", async () => {
    let ready = 0;
    const holder = new FakeOwner("");
    const s = new Session(options(), holder, { ...PRIME_SIZE, quietMs: PRIME_QUIET_MS, onReady: () => ready++ });
    sessions.push(s);
    expect(s.state).toBe("primed");
    expect(sandbox.launches).toMatchObject([{ cols: 120, rows: 40 }]);
    sandbox.pty("loading Kconfig");
    await tick(PRIME_QUIET_MS);
    expect(ready).toBe(0);
    sandbox.pty(`${ALT_SCREEN}Main menu`);
    await tick(PRIME_QUIET_MS - 1);
    sandbox.pty(" (still drawing)");
    await tick(PRIME_QUIET_MS - 1);
    expect(ready).toBe(0);
    await tick(1);
    expect(ready).toBe(1);
    // No limits run while primed.
    await tick(limits.graceMs + limits.idleMs);
    expect(s.active).toBe(true);

    s.handOver(owner);
    expect(s.id).toBe("s1");
    expect(s.state).toBe("detached");
    expect(s.lingersUntil).toBe(Date.now() + limits.graceMs);
    const c = new FakeClient();
    await attach(s, c);
    expect(c.messages.map((m) => m.type)).toEqual(["ready", "snapshot"]);
    expect(c.text()).toContain("Main menu");
    expect(sandbox.sizes).toEqual([[100, 30]]);
    expect(() => s.handOver(new FakeOwner("s2"))).toThrow();
  });
});
