import fs from "node:fs";
import { asDiskFull, diskFull, lowOnSpace } from "../core/disk-full";
import { KbsError } from "../core/errors";
import { log } from "../core/log";
import { MAX_CONFIG_BYTES } from "../configs/parse";
import { readUntrusted, UntrustedOutputError } from "../sandbox/untrusted";
import type { Disposable, LaunchJob, WarmSandbox } from "../sandbox/types";
import { FlowControl } from "./flow";
import type { Frontend } from "./frontend";
import type { ErrorCode } from "../../contracts/terminal-error-codes";
import type { ServerMessage } from "../../contracts/terminal-protocol";
import { ScreenMirror } from "./screen";

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

/** A session launched ahead of need: at this size, with no client, until `handOver`. */
export interface Priming {
  cols: number;
  rows: number;
  /** Called once the frontend has started curses and its output has been quiet for `quietMs`. */
  onReady(): void;
  quietMs: number;
}

/** Where menuconfig writes the config inside the sandbox (KCONFIG_CONFIG), and so on the host in outDir. */
export const CONFIG_NAME = ".config";
/** How often a config that found the data disk full is offered to the store again. */
const DISK_FULL_RETRY_MS = 2000;
const RESIZE_COALESCE_MS = 15;
const SAVE_DEBOUNCE_MS = 40;
/** How long an explicit save waits for menuconfig to write; a stuck job falls back to its last write. */
const SAVE_REQUEST_WAIT_MS = 3000;
/** curses switching to the alternate screen (smcup of xterm-256color, the sandbox's TERM). */
const ALT_SCREEN = Buffer.from("\x1b[?1049h");
/**
 * After the page said it is going away (pagehide), a dropped socket waits this long, not
 * the whole grace period: a reload reconnects within it, a closed tab frees its slot.
 */
export const LEFT_GRACE_MS = 10_000;
/** The warm stub's "save request done" marker (sandbox-images/common/warm_stub.py). */
const SAVED_MARKER = ".kbs-saved";

const notice = (text: string) => Buffer.from(`\r\n\x1b[1;33m[kbs] ${text}\x1b[0m\r\n`, "utf8");

/**
 * A menuconfig session: a claimed warm sandbox running the tree's menuconfig in a
 * pty, and at most one client attached to it at a time. The pty outlives a dropped
 * client for a grace period; a mirror of the screen lets the next client pick up
 * exactly where the last one was. Every config menuconfig writes is stored at once.
 *
 * A primed session is launched before anyone asks for it (no client, no id, no
 * limits running): the frontend parses the Kconfig and draws into the mirror, and the
 * request that gets it (`handOver`) attaches like a reconnecting client.
 */
export class Session {
  readonly kconfigHash: string;
  /** Whether it was launched ahead of need (a primed session), handed over or not. */
  readonly primed: boolean;
  latestConfigId: string | undefined;
  private owner: SessionOwner;
  private priming: Priming | undefined;
  private quietTimer: NodeJS.Timeout | undefined;
  private cursesSeen = false;
  private outputTail = Buffer.alloc(0);
  private client: TerminalClient | undefined;
  private screen: ScreenMirror | undefined;
  private launched = false;
  private ended = false;
  /** A refused write (a link, FIFO or oversize file where the config belongs) is said once. */
  private refusedWrite = false;
  private size: { cols: number; rows: number } | undefined;
  private pendingSize: { cols: number; rows: number } | undefined;
  private resizeTimer: NodeJS.Timeout | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private graceTimer: NodeJS.Timeout | undefined;
  /** When the grace timer ends the session (no client attached), for the limit's message. */
  private graceEndsAt: number | undefined;
  /** The page said it is going away: the next wait for a client is short. */
  private left = false;
  private lifetimeTimer: NodeJS.Timeout | undefined;
  private drainTimer: NodeJS.Timeout | undefined;
  private saveTimer: NodeJS.Timeout | undefined;
  private saving: Promise<void> = Promise.resolve();
  private writeWaiters: Array<() => void> = [];
  private lastStoredText: string | undefined;
  /** Output that arrives while a reconnect snapshot is taken. */
  private holding: Buffer[] | undefined;
  private watcher: fs.FSWatcher | undefined;
  private readonly flow: FlowControl;
  private readonly subscriptions: Disposable[] = [];

  constructor(
    private readonly opts: SessionOptions,
    owner: SessionOwner,
    priming?: Priming,
  ) {
    this.kconfigHash = opts.kconfigHash;
    this.owner = owner;
    this.lastStoredText = owner.startText;
    this.primed = priming !== undefined;
    this.priming = priming;
    this.flow = new FlowControl({ ...opts.flow, pause: () => this.opts.sandbox.pause(), resume: () => this.opts.sandbox.resume() });
    this.subscriptions.push(opts.sandbox.onData((d) => this.output(d)), opts.sandbox.onExit((e) => void this.exited(e)));
    this.watch();
    if (priming) {
      this.size = { cols: priming.cols, rows: priming.rows };
      this.launch();
    } else this.startLimits();
  }

  get id(): string {
    return this.owner.id;
  }

  /**
   * A primed session becomes the session of a request: it gets the request's id and
   * store, and its limits run from now (the client has the grace period to connect).
   */
  handOver(owner: SessionOwner): void {
    if (!this.priming || this.ended) throw new Error("only a live primed session can be handed over");
    this.priming = undefined;
    clearTimeout(this.quietTimer);
    this.owner = owner;
    this.lastStoredText = owner.startText;
    this.startLimits();
  }

  private startLimits(): void {
    const { limits } = this.opts;
    this.lifetimeTimer = setTimeout(() => void this.end("lifetime", "max_lifetime", `This session reached its maximum length of ${formatDuration(limits.maxMs)} and was closed. Saved configs are kept; start a new session to go on.`), limits.maxMs);
    this.startGrace(limits.graceMs);
  }

  private startGrace(ms: number): void {
    clearTimeout(this.graceTimer);
    this.graceEndsAt = Date.now() + ms;
    this.graceTimer = setTimeout(() => void this.end("disconnected"), ms);
  }

  private stopGrace(): void {
    clearTimeout(this.graceTimer);
    this.graceEndsAt = undefined;
  }

  /** When this session ends unless a client connects (ms since the epoch); undefined while one is connected. */
  get lingersUntil(): number | undefined {
    return this.ended || this.client ? undefined : this.graceEndsAt;
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

  get active(): boolean {
    return !this.ended;
  }

  /** A client sent `init`: it becomes the session's one client (a previous one is told and closed). */
  async attach(client: TerminalClient, cols: number, rows: number): Promise<void> {
    if (this.ended) {
      client.sendMessage({ type: "error", code: "unknown_session", message: "This session has ended. Start a new one; saved configs are kept." });
      client.close(4404, "session ended");
      return;
    }
    const previous = this.client;
    if (previous && previous !== client) {
      previous.sendMessage({ type: "error", code: "replaced", message: "This session was opened in another window; this one is disconnected." });
      previous.close(4409, "replaced by a newer connection");
    }
    this.client = client;
    this.flow.reset();
    this.stopDrainWatch();
    this.stopGrace();
    this.left = false;
    this.touch();
    client.sendMessage({ type: "ready", session: this.id, kconfigHash: this.kconfigHash });
    if (this.launched && this.screen) {
      // Output after this point is not in the snapshot: hold it and send it after.
      const held: Buffer[] = [];
      this.holding = held;
      // The client's size first (a pending resize is the previous client's): the snapshot is
      // the screen cut to that size, and the frontend's redraw for it (SIGWINCH) follows it.
      clearTimeout(this.resizeTimer);
      this.resizeTimer = this.pendingSize = undefined;
      const resized = this.setSize(cols, rows);
      const snap = await this.screen.snapshot();
      if (this.holding === held) this.holding = undefined;
      if (this.client !== client) return;
      client.sendMessage({ type: "snapshot" });
      // A full reset first, so whatever the client showed before is replaced, not overlaid.
      client.sendBytes(Buffer.concat([Buffer.from("\x1bc"), snap]));
      for (const d of held) this.sendOutput(client, d);
      if (resized && this.tooSmall()) this.send({ type: "error", code: "terminal_too_small", message: this.tooSmallMessage() });
    } else {
      this.size = { cols, rows };
      this.launchIfRoom();
    }
  }

  /** The client's socket went away: keep the pty for the grace period. */
  detach(client: TerminalClient): void {
    if (this.client !== client) return;
    this.client = undefined;
    this.holding = undefined;
    this.flow.reset();
    this.stopDrainWatch();
    if (!this.ended) this.startGrace(this.left ? Math.min(LEFT_GRACE_MS, this.opts.limits.graceMs) : this.opts.limits.graceMs);
  }

  /** The client closed its socket normally (code 1000): the user is done, the session ends now. */
  leave(client: TerminalClient): void {
    if (this.client !== client || this.ended) return;
    this.client = undefined;
    void this.close();
  }

  /**
   * The page is going away (its pagehide beacon): it may be a reload, so the session
   * waits a short while for a client instead of the whole grace period.
   */
  pageLeft(): void {
    if (this.ended || this.priming) return;
    this.left = true;
    if (!this.client) this.startGrace(Math.min(LEFT_GRACE_MS, this.opts.limits.graceMs));
  }

  /**
   * The user ends the session (DELETE, or a normal close): what menuconfig shows is
   * stored first where the frontend can be asked to write it (Kconfiglib), else what it
   * last wrote; then the session ends.
   */
  async close(): Promise<void> {
    if (this.ended) return;
    if (this.launched && this.opts.sandbox.requestSave?.()) await this.saveRequestDone(SAVE_REQUEST_WAIT_MS);
    await this.checkSaved().catch(() => {});
    await this.end("closed", "session_closed", `This session was closed.${this.latestConfigId ? " Its last saved config is kept." : ""} Start a new session to go on.`);
  }

  input(client: TerminalClient, data: Buffer): void {
    if (this.client !== client || !this.launched || this.ended) return;
    this.touch();
    this.opts.sandbox.write(data);
  }

  ack(client: TerminalClient, bytes: number): void {
    if (this.client === client) this.flow.acked(bytes);
  }

  /** Resizes arrive in storms (a window being dragged): only the last one in a short window is applied. */
  resize(cols: number, rows: number): void {
    this.pendingSize = { cols, rows };
    this.resizeTimer ??= setTimeout(() => {
      this.resizeTimer = undefined;
      const s = this.pendingSize!;
      this.pendingSize = undefined;
      this.applySize(s.cols, s.rows);
    }, RESIZE_COALESCE_MS);
  }

  /**
   * An explicit save (the portal's Save button). Where the sandbox can make menuconfig
   * write (Kconfiglib's menuconfig in the warm stub), it does, and the written config is
   * stored. Elsewhere (mconf) it stores what menuconfig last wrote to KCONFIG_CONFIG; before
   * menuconfig wrote anything, the starting config completed with the tree's defaults
   * (olddefconfig), so the user always gets a complete config.
   */
  async save(client: TerminalClient): Promise<void> {
    this.touch();
    try {
      if (this.launched && this.opts.sandbox.requestSave?.()) await this.saveRequestDone(SAVE_REQUEST_WAIT_MS);
      await this.checkSaved();
      if (!this.latestConfigId) {
        this.latestConfigId = await this.owner.store(await this.owner.complete((await this.readWritten()) ?? this.owner.startText ?? ""));
      }
      client.sendMessage({ type: "saved", configId: this.latestConfigId });
    } catch (e) {
      if (this.saidDiskFull(e)) return;
      log.warn({ err: e, session: this.id }, "explicit save failed");
      client.sendMessage({ type: "error", code: "save_failed", message: `Saving failed: ${(e as Error).message}` });
    }
  }

  /** A save that found the data disk full is told to the client as disk_full (the session goes on); true if it was. */
  private saidDiskFull(e: unknown): boolean {
    const full = asDiskFull(e, this.opts.dataDir);
    if (!(full instanceof KbsError && full.kind === "disk_full")) return false;
    log.warn({ session: this.id }, "config not stored: the data disk is full");
    this.send({ type: "error", code: "disk_full", message: full.message });
    // menuconfig's file is whole in the session's own dir: store it once there is room, without another save.
    clearTimeout(this.saveTimer);
    this.saveTimer = setTimeout(() => void this.checkSaved().catch((err: unknown) => this.saidDiskFull(err)), DISK_FULL_RETRY_MS);
    return true;
  }

  /** End the session: store what menuconfig wrote last, tell the client why, kill the sandbox. */
  async end(reason: EndReason, code?: ErrorCode, message?: string): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    for (const t of [this.lifetimeTimer, this.idleTimer, this.resizeTimer, this.saveTimer, this.quietTimer]) clearTimeout(t);
    this.stopGrace();
    this.stopDrainWatch();
    await this.checkSaved().catch(() => {});
    this.watcher?.close();
    const client = this.client;
    this.client = undefined;
    if (client && code && message) {
      client.sendBytes(notice(message));
      client.sendMessage({ type: "error", code, message });
    }
    this.owner.onEnd(reason);
    client?.close(1000, reason);
    for (const s of this.subscriptions) s.dispose();
    await this.opts.sandbox.kill().catch((e: unknown) => log.warn({ err: e, session: this.id }, "sandbox kill failed"));
    this.screen?.dispose();
  }

  private applySize(cols: number, rows: number): void {
    if (this.ended) return;
    if (!this.launched) {
      this.size = { cols, rows };
      this.launchIfRoom();
      return;
    }
    if (this.setSize(cols, rows) && this.tooSmall()) this.send({ type: "error", code: "terminal_too_small", message: this.tooSmallMessage() });
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
  private launchIfRoom(): void {
    if (this.launched || this.ended || !this.client) return;
    if (this.tooSmall()) {
      const message = this.tooSmallMessage();
      this.client.sendBytes(Buffer.from(`\x1b[H\x1b[2J${message}\r\n`, "utf8"));
      this.client.sendMessage({ type: "error", code: "terminal_too_small", message });
      return;
    }
    this.launch();
  }

  private launch(): void {
    const { cols, rows } = this.size!;
    this.screen = new ScreenMirror(cols, rows);
    this.launched = true;
    try {
      this.opts.sandbox.launch({ ...this.opts.job, cols, rows });
    } catch (e) {
      log.error({ err: e, session: this.id }, "launch failed");
      void this.end("sandbox_failed", "sandbox_failed", `menuconfig could not be started: ${(e as Error).message}`);
    }
  }

  private output(data: Buffer): void {
    this.screen?.write(data);
    if (this.priming) this.primingOutput(data);
    if (this.holding) this.holding.push(data);
    else if (this.client) this.sendOutput(this.client, data);
  }

  /**
   * A primed frontend is ready once it switched to the alternate screen (curses started,
   * so the stub had set the pty size: a resize now sticks) and its output went quiet.
   */
  private primingOutput(data: Buffer): void {
    if (!this.cursesSeen) {
      const seen = Buffer.concat([this.outputTail, data]);
      this.cursesSeen = seen.includes(ALT_SCREEN);
      this.outputTail = seen.subarray(Math.max(0, seen.length - ALT_SCREEN.length + 1));
      if (!this.cursesSeen) return;
    }
    const { quietMs, onReady } = this.priming!;
    clearTimeout(this.quietTimer);
    this.quietTimer = setTimeout(() => this.priming && onReady(), quietMs);
  }

  private sendOutput(client: TerminalClient, data: Buffer): void {
    client.sendBytes(data);
    this.flow.sent(data.length, client.bufferedAmount);
    if (this.flow.isPaused) this.startDrainWatch();
  }

  /** While paused, follow the socket's send buffer draining (ws has no event for it). */
  private startDrainWatch(): void {
    this.drainTimer ??= setInterval(() => {
      if (!this.client) return this.stopDrainWatch();
      this.flow.bufferedNow(this.client.bufferedAmount);
      if (!this.flow.isPaused) this.stopDrainWatch();
    }, 20);
  }

  private stopDrainWatch(): void {
    clearInterval(this.drainTimer);
    this.drainTimer = undefined;
  }

  private send(msg: ServerMessage): void {
    this.client?.sendMessage(msg);
  }

  private touch(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(
      () => void this.end("idle", "idle_timeout", `This session was closed after ${formatDuration(this.opts.limits.idleMs)} without input. Saved configs are kept; start a new session to go on.`),
      this.opts.limits.idleMs,
    );
  }

  /** Resolves when the stub says a save request is done (its marker beside KCONFIG_CONFIG), or after `timeoutMs`. */
  private saveRequestDone(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.writeWaiters.push(done);
    });
  }

  /** menuconfig writes KCONFIG_CONFIG into outDir: watch the directory (the file is replaced, not just rewritten). */
  private watch(): void {
    try {
      this.watcher = fs.watch(this.opts.sandbox.outDir, (_event, name) => {
        if (name === SAVED_MARKER) for (const wake of this.writeWaiters.splice(0)) wake();
        if (name !== CONFIG_NAME) return;
        clearTimeout(this.saveTimer);
        this.saveTimer = setTimeout(() => void this.checkSaved().catch((e: unknown) => this.saidDiskFull(e) || log.warn({ err: e, session: this.id }, "autosave failed")), SAVE_DEBOUNCE_MS);
      });
      this.watcher.on("error", () => this.watcher?.close());
    } catch (e) {
      log.error({ err: e, session: this.id }, "cannot watch the session's output dir; configs will be stored at save and exit only");
    }
  }

  /**
   * The config menuconfig last wrote. The sandbox could have put anything at that name (a
   * link to a host file, a FIFO, a huge file): only a regular file, read without following
   * links or blocking, is taken; anything else is refused and said once.
   */
  private async readWritten(): Promise<string | undefined> {
    try {
      return (await readUntrusted(this.opts.sandbox.outDir, CONFIG_NAME, MAX_CONFIG_BYTES))?.toString("utf8");
    } catch (e) {
      if (!(e instanceof UntrustedOutputError)) return undefined;
      if (!this.refusedWrite) {
        this.refusedWrite = true;
        log.warn({ session: this.id, err: e.message }, "refused what the session's menuconfig left as its config");
        this.send({ type: "error", code: "config_refused", message: `The config menuconfig wrote was refused: ${e.message}. Nothing of it was stored.` });
      }
      return undefined;
    }
  }

  /**
   * Store the config menuconfig wrote if it changed since the last store; one check at a
   * time. Rejects with the 507 disk_full error when the write or the store hit a full disk.
   */
  private checkSaved(): Promise<void> {
    const next = this.saving.then(async () => {
      const text = await this.readWritten();
      if (text === undefined || text === this.lastStoredText) return;
      // menuconfig's configs end in a newline: without one the write is not done, or failed (a full disk leaves no
      // error code on the host, only the free space says so). A half file is never stored.
      if (!text.endsWith("\n")) {
        if (lowOnSpace(this.opts.sandbox.outDir)) throw diskFull(this.opts.dataDir);
        return;
      }
      let id: string;
      try {
        id = await this.owner.store(text);
      } catch (e) {
        const full = asDiskFull(e, this.opts.dataDir);
        if (full !== e) throw full;
        // A half-written file does not parse; the write's next event brings the whole one.
        log.debug({ err: e, session: this.id }, "written config not stored (yet)");
        return;
      }
      this.lastStoredText = text;
      if (id === this.latestConfigId) return;
      this.latestConfigId = id;
      this.send({ type: "saved", configId: id });
    });
    this.saving = next.catch(() => {});
    return next;
  }

  private async exited(e: { code: number | null; signal: number | null }): Promise<void> {
    if (this.ended) return;
    await this.checkSaved().catch(() => {});
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
