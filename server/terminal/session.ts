import { log } from "../core/log";
import type { Disposable, LaunchJob, WarmSandbox } from "../sandbox/types";
import { ConfigWatcher } from "./config-watcher";
import { FlowControl } from "./flow";
import type { Frontend } from "./frontend";
import { CursesStart, PrimedReadiness, type Priming } from "./priming";
import type { ErrorCode } from "../../contracts/terminal-error-codes";
import type { ServerMessage } from "../../contracts/terminal-protocol";
import { ScreenMirror } from "./screen";
import { Timers } from "./timers";

/** One connected client of a session, whatever carries it (a WebSocket, the local TTY of `kbs menuconfig`). */
export interface TerminalClient {
  sendBytes(data: Buffer): void;
  sendMessage(msg: ServerMessage): void;
  close(code: number, reason: string): void;
  /** Bytes queued for sending and not yet handed to the network. */
  readonly bufferedAmount: number;
}

/** `closed`: the user ended it (DELETE, or the portal closed its socket normally). */
export type EndReason = "exit" | "idle" | "lifetime" | "disconnected" | "closed" | "sandbox_failed" | "shutdown";

export interface SessionOptions {
  kconfigHash: string;
  sandbox: WarmSandbox;
  frontend: Frontend;
  /** The launch job without the size (the first `init` gives it, or the priming size). */
  job: Omit<LaunchJob, "cols" | "rows">;
  limits: { idleMs: number; maxMs: number; graceMs: number };
  flow: { high: number; low: number };
  /** Named when a save finds the data disk full. */
  dataDir: string;
}

/** Whose session it is: the request it serves (or, while primed, the primer keeping it). */
export interface SessionOwner {
  id: string;
  /** The text the session started from (already in the store), so copying it in is not a "save". */
  startText: string | undefined;
  /** Store a config menuconfig wrote; returns its id. */
  store(text: string): Promise<string>;
  /** A complete config for an explicit `save` before menuconfig wrote one (olddefconfig on the start). */
  complete(startText: string): Promise<string>;
  onEnd(reason: EndReason): void;
}

const RESIZE_COALESCE_MS = 15;
/** How long an explicit save waits for menuconfig to write; a stuck job falls back to its last write. */
const SAVE_REQUEST_WAIT_MS = 3000;
/** While output is paused, how often the socket's send buffer is looked at (ws has no event for it draining). */
const DRAIN_POLL_MS = 20;
/**
 * After the page said it is going away (pagehide), a dropped socket waits this long, not
 * the whole grace period: a reload reconnects within it, a closed tab frees its slot.
 */
export const LEFT_GRACE_MS = 10_000;

const notice = (text: string) => Buffer.from(`\r\n\x1b[1;33m[kbs] ${text}\x1b[0m\r\n`, "utf8");

/**
 * The states of a session and what each holds. `left`: the page said it is going away
 * (its pagehide beacon), so the next wait for a client is short. The timers of a state
 * (grace, resize coalescing, drain polling, priming's quiet wait) are cleared when the
 * session leaves it; the limits (idle, lifetime) run from the start or the hand-over to
 * the end.
 *
 *   primed ──handOver──> detached
 *   starting ──attach──> live | too_small ──resize──> live
 *   live ──drop──> detached ──attach──> live        too_small ──drop──> starting
 *   any of those ──close/leave──> closing ──> ending ──> ended
 *   any of those ──exit/idle/lifetime/grace over/shutdown──> ending ──> ended
 */
type State =
  /** Launched ahead of need at the priming size, with no owner, client or limits. */
  | { name: "primed"; readiness: PrimedReadiness }
  /** Not launched, no client: the first client has the grace period to connect. */
  | { name: "starting"; graceEndsAt: number }
  /** Not launched: the attached client's terminal is too small for the frontend; a resize that fits launches it. */
  | { name: "too_small"; client: TerminalClient; left: boolean }
  /** The frontend runs with one client. `holding`: output that arrives while the client's snapshot is taken. */
  | { name: "live"; client: TerminalClient; left: boolean; holding: Buffer[] | undefined }
  /** The frontend runs with no client: the pty waits out the grace period for a reconnect. */
  | { name: "detached"; graceEndsAt: number }
  /** The user ended it: what menuconfig shows is stored first. No input, no new client. */
  | { name: "closing"; client: TerminalClient | undefined; done: Promise<void> }
  /** The last config is stored, the client told why, the sandbox killed. */
  | { name: "ending"; reason: EndReason; client: TerminalClient | undefined }
  | { name: "ended"; reason: EndReason };

export type SessionState = State["name"];

/**
 * A menuconfig session: a claimed warm sandbox running the tree's menuconfig in a
 * pty, and at most one client attached to it at a time. The pty outlives a dropped
 * client for a grace period; a mirror of the screen lets the next client pick up
 * exactly where the last one was. Every config menuconfig writes is stored at once
 * (config-watcher.ts).
 *
 * A primed session (priming.ts) is launched before anyone asks for it: the frontend
 * parses the Kconfig and draws into the mirror, and the request that gets it
 * (`handOver`) attaches like a reconnecting client.
 */
export class Session {
  readonly kconfigHash: string;
  /** Whether it was launched ahead of need (a primed session), handed over or not. */
  readonly primed: boolean;
  private owner: SessionOwner;
  private current: State;
  /** The current state's timers. */
  private readonly stateTimers = new Timers();
  /** Idle and lifetime: from the start (or the hand-over) to the end. */
  private readonly limitTimers = new Timers();
  private readonly config: ConfigWatcher;
  /** The frontend's screen, from its launch on. */
  private screen: ScreenMirror | undefined;
  private size: { cols: number; rows: number } | undefined;
  /** The last of a storm of resizes, applied when the coalescing timer fires. */
  private pendingSize: { cols: number; rows: number } | undefined;
  private readonly flow: FlowControl;
  private readonly subscriptions: Disposable[] = [];
  private readonly curses = new CursesStart();
  private markDrawn: () => void = () => {};
  private markShown: () => void = () => {};
  /** Resolved once the frontend has parsed the tree and started curses (its first frame), or the session ended without. */
  readonly drawn: Promise<void>;
  /** Resolved once a client was shown the frontend's screen (a fresh session's first frame, a primed one's snapshot at its hand-over), or the session ended without. */
  readonly shown: Promise<void>;

  constructor(
    private readonly opts: SessionOptions,
    owner: SessionOwner,
    priming?: Priming,
  ) {
    this.kconfigHash = opts.kconfigHash;
    this.owner = owner;
    this.primed = priming !== undefined;
    this.drawn = new Promise((resolve) => (this.markDrawn = resolve));
    this.shown = new Promise((resolve) => (this.markShown = resolve));
    this.flow = new FlowControl({ ...opts.flow, pause: () => this.opts.sandbox.pause(), resume: () => this.opts.sandbox.resume() });
    this.config = new ConfigWatcher({
      outDir: opts.sandbox.outDir,
      dataDir: opts.dataDir,
      startText: owner.startText,
      store: (text) => this.owner.store(text),
      tell: (msg) => this.send(msg),
      sessionId: () => this.id,
    });
    this.subscriptions.push(opts.sandbox.onData((d) => this.output(d)), opts.sandbox.onExit((e) => void this.exited(e)));
    if (priming) {
      this.size = { cols: priming.cols, rows: priming.rows };
      this.current = { name: "primed", readiness: new PrimedReadiness(priming, this.stateTimers) };
      this.launch();
    } else {
      this.current = { name: "starting", graceEndsAt: Date.now() + opts.limits.graceMs };
      this.arm(this.current);
      this.startLimits();
    }
  }

  get id(): string {
    return this.owner.id;
  }

  /** Where the session is in its life (operators, tests). */
  get state(): SessionState {
    return this.current.name;
  }

  get active(): boolean {
    return this.current.name !== "ending" && this.current.name !== "ended";
  }

  /** The id of the config stored last, if any. */
  get latestConfigId(): string | undefined {
    return this.config.latestConfigId;
  }

  /** When this session ends unless a client connects (ms since the epoch); undefined while one is connected. */
  get lingersUntil(): number | undefined {
    const s = this.current;
    return s.name === "starting" || s.name === "detached" ? s.graceEndsAt : undefined;
  }

  /** The sandbox this session runs in (operators, tests). */
  get sandboxId(): string {
    return this.opts.sandbox.id;
  }

  /** The sandbox's process (its tree holds the session's memory). */
  get sandboxPid(): number {
    return this.opts.sandbox.pid;
  }

  /** Whether the tree's own menuconfig runs, or the system's. */
  get frontendSource(): "tree" | "system" {
    return this.opts.frontend.source;
  }

  /**
   * A primed session becomes the session of a request: it gets the request's id and
   * store, and its limits run from now (the client has the grace period to connect).
   */
  handOver(owner: SessionOwner): void {
    if (this.current.name !== "primed") throw new Error("only a live primed session can be handed over");
    this.owner = owner;
    this.config.startFrom(owner.startText);
    this.startLimits();
    this.enter({ name: "detached", graceEndsAt: Date.now() + this.opts.limits.graceMs });
  }

  /** A client sent `init`: it becomes the session's one client (a previous one is told and closed). */
  async attach(client: TerminalClient, cols: number, rows: number): Promise<void> {
    const s = this.current;
    if (s.name === "closing" || s.name === "ending" || s.name === "ended") {
      client.sendMessage({ type: "error", code: "unknown_session", message: "This session has ended. Start a new one; saved configs are kept." });
      client.close(4404, "session ended");
      return;
    }
    if (s.name === "primed") throw new Error("a primed session is handed over before a client attaches");
    const previous = this.client;
    if (previous && previous !== client) {
      previous.sendMessage({ type: "error", code: "replaced", message: "This session was opened in another window; this one is disconnected." });
      previous.close(4409, "replaced by a newer connection");
    }
    const ready: ServerMessage = { type: "ready", session: this.id, kconfigHash: this.kconfigHash };
    if (!this.screen) {
      this.touch();
      client.sendMessage(ready);
      this.size = { cols, rows };
      this.launchIfRoom(client, false);
      return;
    }
    // Output after this point is not in the snapshot: held, and sent after it.
    const live: State = { name: "live", client, left: false, holding: [] };
    this.enter(live);
    this.touch();
    client.sendMessage(ready);
    // The client's size first (the enter dropped a pending resize: it was the previous client's): the snapshot
    // is the screen cut to that size, and the frontend's redraw for it (SIGWINCH) follows it.
    const resized = this.setSize(cols, rows);
    const snap = await this.screen.snapshot();
    const held = live.holding ?? [];
    live.holding = undefined;
    if (this.current !== live) return;
    client.sendMessage({ type: "snapshot" });
    // A full reset first, so whatever the client showed before is replaced, not overlaid.
    client.sendBytes(Buffer.concat([Buffer.from("\x1bc"), snap]));
    if (this.curses.started) this.markShown();
    for (const d of held) this.sendOutput(client, d);
    if (resized && this.tooSmall()) this.send({ type: "error", code: "terminal_too_small", message: this.tooSmallMessage() });
  }

  /** The client's socket went away: keep the pty for the grace period. */
  detach(client: TerminalClient): void {
    const s = this.current;
    if (this.client !== client) return;
    if (s.name === "live") this.enter({ name: "detached", graceEndsAt: Date.now() + this.graceMs(s.left) });
    else if (s.name === "too_small") this.enter({ name: "starting", graceEndsAt: Date.now() + this.graceMs(s.left) });
    else if (s.name === "closing" || s.name === "ending") s.client = undefined;
  }

  /** The client closed its socket normally (code 1000): the user is done, the session ends now. */
  leave(client: TerminalClient): void {
    const s = this.current;
    if (this.client !== client || !this.active) return;
    if (s.name === "closing") s.client = undefined;
    else void this.beginClose(undefined);
  }

  /**
   * The page is going away (its pagehide beacon): it may be a reload, so the session
   * waits a short while for a client instead of the whole grace period.
   */
  pageLeft(): void {
    const s = this.current;
    if (s.name === "live" || s.name === "too_small") s.left = true;
    else if (s.name === "starting" || s.name === "detached") this.enter({ name: s.name, graceEndsAt: Date.now() + this.graceMs(true) });
  }

  /**
   * The user ends the session (DELETE, or a normal close): what menuconfig shows is
   * stored first where the frontend can be asked to write it (Kconfiglib), else what it
   * last wrote; then the session ends.
   */
  close(): Promise<void> {
    return this.beginClose(this.client);
  }

  input(client: TerminalClient, data: Buffer): void {
    const s = this.current;
    if (s.name !== "live" || s.client !== client) return;
    this.touch();
    this.opts.sandbox.write(data);
  }

  ack(client: TerminalClient, bytes: number): void {
    if (this.client === client) this.flow.acked(bytes);
  }

  /** Resizes arrive in storms (a window being dragged): only the last one in a short window is applied. */
  resize(cols: number, rows: number): void {
    const s = this.current;
    if (s.name !== "live" && s.name !== "too_small") return;
    this.pendingSize = { cols, rows };
    if (!this.stateTimers.has("resize")) this.stateTimers.after("resize", RESIZE_COALESCE_MS, () => this.applySize(this.pendingSize!));
  }

  /**
   * An explicit save (the portal's Save button). Where the sandbox can make menuconfig
   * write (Kconfiglib's menuconfig in the warm stub), it does, and the written config is
   * stored. Elsewhere (mconf) it stores what menuconfig last wrote to KCONFIG_CONFIG; before
   * menuconfig wrote anything, the starting config completed with the tree's defaults
   * (olddefconfig), so the user always gets a complete config.
   */
  async save(client: TerminalClient): Promise<void> {
    const s = this.current;
    if (s.name === "primed" || !this.active) return;
    this.touch();
    try {
      if (this.screen && this.opts.sandbox.requestSave?.()) await this.config.whenWritten(SAVE_REQUEST_WAIT_MS);
      const configId = await this.config.save((start) => this.owner.complete(start));
      client.sendMessage({ type: "saved", configId });
    } catch (e) {
      if (this.config.toldDiskFull(e)) return;
      log.warn({ err: e, session: this.id }, "explicit save failed");
      client.sendMessage({ type: "error", code: "save_failed", message: `Saving failed: ${(e as Error).message}` });
    }
  }

  /** End the session: store what menuconfig wrote last, tell the client why, kill the sandbox. */
  async end(reason: EndReason, code?: ErrorCode, message?: string): Promise<void> {
    if (!this.active) return;
    const ending: State = { name: "ending", reason, client: this.client };
    this.enter(ending);
    this.limitTimers.clear();
    await this.config.finish();
    const client = ending.client;
    ending.client = undefined;
    if (client && code && message) {
      client.sendBytes(notice(message));
      client.sendMessage({ type: "error", code, message });
    }
    this.owner.onEnd(reason);
    client?.close(1000, reason);
    for (const s of this.subscriptions) s.dispose();
    await this.opts.sandbox.kill().catch((e: unknown) => log.warn({ err: e, session: this.id }, "sandbox kill failed"));
    this.screen?.dispose();
    this.enter({ name: "ended", reason });
    this.markDrawn();
    this.markShown();
  }

  /** The one place the state changes: the old state's timers end, flow control starts over, the new state's timers start. */
  private enter(next: State): void {
    log.debug({ session: this.id, sandbox: this.opts.sandbox.id, from: this.current.name, to: next.name }, "session state");
    this.stateTimers.clear();
    this.flow.reset();
    this.current = next;
    this.arm(next);
  }

  private arm(s: State): void {
    if (s.name === "starting" || s.name === "detached") this.stateTimers.after("grace", Math.max(0, s.graceEndsAt - Date.now()), () => void this.end("disconnected"));
  }

  private startLimits(): void {
    const { maxMs } = this.opts.limits;
    this.limitTimers.after("lifetime", maxMs, () => void this.end("lifetime", "max_lifetime", `This session reached its maximum length of ${formatDuration(maxMs)} and was closed. Saved configs are kept; start a new session to go on.`));
  }

  private touch(): void {
    const { idleMs } = this.opts.limits;
    this.limitTimers.after("idle", idleMs, () => void this.end("idle", "idle_timeout", `This session was closed after ${formatDuration(idleMs)} without input. Saved configs are kept; start a new session to go on.`));
  }

  private graceMs(left: boolean): number {
    const { graceMs } = this.opts.limits;
    return left ? Math.min(LEFT_GRACE_MS, graceMs) : graceMs;
  }

  /** The client of the current state, if it has one. */
  private get client(): TerminalClient | undefined {
    const s = this.current;
    return "client" in s ? s.client : undefined;
  }

  private beginClose(client: TerminalClient | undefined): Promise<void> {
    const s = this.current;
    if (s.name === "closing") return s.done;
    if (!this.active) return Promise.resolve();
    const launched = this.screen !== undefined;
    const closing: State = { name: "closing", client, done: Promise.resolve() };
    this.enter(closing);
    closing.done = (async () => {
      if (launched && this.opts.sandbox.requestSave?.()) await this.config.whenWritten(SAVE_REQUEST_WAIT_MS);
      await this.config.check().catch(() => {});
      await this.end("closed", "session_closed", `This session was closed.${this.latestConfigId ? " Its last saved config is kept." : ""} Start a new session to go on.`);
    })();
    return closing.done;
  }

  private applySize({ cols, rows }: { cols: number; rows: number }): void {
    const s = this.current;
    if (s.name === "too_small") {
      this.size = { cols, rows };
      this.launchIfRoom(s.client, s.left);
    } else if (s.name === "live" && this.setSize(cols, rows) && this.tooSmall()) {
      this.send({ type: "error", code: "terminal_too_small", message: this.tooSmallMessage() });
    }
  }

  /** Size the running frontend's pty and the mirror; false when the size is unchanged. */
  private setSize(cols: number, rows: number): boolean {
    if (this.size && this.size.cols === cols && this.size.rows === rows) return false;
    this.size = { cols, rows };
    this.screen!.resize(cols, rows);
    this.opts.sandbox.resize(cols, rows);
    return true;
  }

  private tooSmall(): boolean {
    const s = this.size!;
    return s.cols < this.opts.frontend.minCols || s.rows < this.opts.frontend.minRows;
  }

  private tooSmallMessage(): string {
    const { minCols, minRows } = this.opts.frontend;
    return `menuconfig needs a terminal of at least ${minCols}x${minRows}; this one is ${this.size!.cols}x${this.size!.rows}. Make the window larger (or the font smaller).`;
  }

  /** Start the frontend at the client's size; a size it cannot draw in gets a message and waits for a resize. */
  private launchIfRoom(client: TerminalClient, left: boolean): void {
    if (this.tooSmall()) {
      const s = this.current;
      if (s.name !== "too_small" || s.client !== client) this.enter({ name: "too_small", client, left });
      const message = this.tooSmallMessage();
      client.sendBytes(Buffer.from(`\x1b[H\x1b[2J${message}\r\n`, "utf8"));
      client.sendMessage({ type: "error", code: "terminal_too_small", message });
      return;
    }
    this.enter({ name: "live", client, left, holding: undefined });
    this.launch();
  }

  private launch(): void {
    const { cols, rows } = this.size!;
    this.screen = new ScreenMirror(cols, rows);
    try {
      this.opts.sandbox.launch({ ...this.opts.job, cols, rows });
    } catch (e) {
      log.error({ err: e, session: this.id }, "launch failed");
      void this.end("sandbox_failed", "sandbox_failed", `menuconfig could not be started: ${(e as Error).message}`);
    }
  }

  private output(data: Buffer): void {
    if (this.curses.output(data)) {
      this.markDrawn();
      if (this.current.name === "live") this.markShown();
    }
    this.screen?.write(data);
    const s = this.current;
    if (s.name === "primed") s.readiness.output(data);
    else if (s.name === "live" && s.holding) s.holding.push(data);
    else if (this.client) this.sendOutput(this.client, data);
  }

  private sendOutput(client: TerminalClient, data: Buffer): void {
    client.sendBytes(data);
    this.flow.sent(data.length, client.bufferedAmount);
    if (!this.flow.isPaused) return;
    // While paused, follow the socket's send buffer draining.
    this.stateTimers.every("drain", DRAIN_POLL_MS, () => {
      const c = this.client;
      if (c) this.flow.bufferedNow(c.bufferedAmount);
      if (!c || !this.flow.isPaused) this.stateTimers.cancel("drain");
    });
  }

  private send(msg: ServerMessage): void {
    this.client?.sendMessage(msg);
  }

  private async exited(e: { code: number | null; signal: number | null }): Promise<void> {
    if (!this.active) return;
    await this.config.check().catch(() => {});
    if (!this.active) return;
    // node-pty reports signal 0 for a normal exit; a sandbox killed from outside exits 128+N through bwrap.
    if (e.signal || e.code === null || e.code !== 0) {
      const how = e.signal ? `was killed (signal ${e.signal})` : e.code !== null && e.code > 128 ? `was killed (signal ${e.code - 128})` : `failed (exit code ${e.code})`;
      const message = `The sandbox running menuconfig ${how}. ${this.latestConfigId ? "Your last saved config is kept." : "Nothing had been saved yet."} Start a new session to go on.`;
      this.client?.sendBytes(notice(message));
      this.send({ type: "error", code: "sandbox_failed", message });
      this.send({ type: "exit", code: e.code });
      return this.end("sandbox_failed");
    }
    this.send({ type: "exit", code: e.code });
    return this.end("exit");
  }
}

export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s} seconds`;
  if (s < 7200) return `${Math.round(s / 60)} minutes`;
  return `${Math.round(s / 3600)} hours`;
}
