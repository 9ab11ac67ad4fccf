import fs from "node:fs";
import { asDiskFull, diskFull, lowOnSpace } from "../core/disk-full";
import { KbsError } from "../core/errors";
import { log } from "../core/log";
import { MAX_CONFIG_BYTES } from "../configs/parse";
import { readUntrusted, UntrustedOutputError } from "../sandbox/untrusted";
import type { ServerMessage } from "../../contracts/terminal-protocol";
import { Timers } from "./timers";

/** Where menuconfig writes the config inside the sandbox (KCONFIG_CONFIG), and so on the host in outDir. */
export const CONFIG_NAME = ".config";
/** The warm stub's "save request done" marker (sandbox-images/common/warm_stub.py). */
const SAVED_MARKER = ".kbs-saved";
/** How often a config that found the data disk full is offered to the store again. */
export const DISK_FULL_RETRY_MS = 2000;
/** menuconfig replaces its file in a few steps: one store once they settle. */
export const SAVE_DEBOUNCE_MS = 40;

export interface ConfigWatcherOptions {
  /** The sandbox's /kbs/out on the host, where menuconfig writes CONFIG_NAME. */
  outDir: string;
  /** Named when a store finds the data disk full. */
  dataDir: string;
  /** The text the session started from (already stored), so copying it in is not a save. */
  startText: string | undefined;
  /** Store a config menuconfig wrote; returns its id. */
  store(text: string): Promise<string>;
  /** Tell the session's client, if one is attached. */
  tell(msg: ServerMessage): void;
  /** For logs: the session's id (it changes once, when a primed session is handed over). */
  sessionId(): string;
}

/**
 * Every config menuconfig writes, stored at once: a watch on the session's output dir, a
 * short debounce, a careful read of what the sandbox left there (refused when it is not a
 * plain config), the store, and a retry while the data disk is full. The client is told
 * `saved`, `config_refused` (once) and `disk_full`.
 */
export class ConfigWatcher {
  private readonly timers = new Timers();
  private readonly watcher: fs.FSWatcher | undefined;
  private latest: string | undefined;
  private lastStoredText: string | undefined;
  private startText: string | undefined;
  /** A refused write (a link, FIFO or oversize file where the config belongs) is said once. */
  private refusedWrite = false;
  private checking: Promise<void> = Promise.resolve();
  private writeWaiters: Array<() => void> = [];
  private finished = false;

  constructor(private readonly opts: ConfigWatcherOptions) {
    this.startText = this.lastStoredText = opts.startText;
    this.watcher = this.watch();
  }

  /** The id of the config stored last, if any. */
  get latestConfigId(): string | undefined {
    return this.latest;
  }

  /** A primed session is handed over: its new owner started from `text`. */
  startFrom(text: string | undefined): void {
    this.startText = this.lastStoredText = text;
  }

  /** Resolves when the stub says a save request is done (its marker beside CONFIG_NAME), or after `timeoutMs`. */
  whenWritten(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.writeWaiters.push(done);
    });
  }

  /**
   * Store the config menuconfig wrote if it changed since the last store; one check at a
   * time. Rejects with the disk_full error when the write or the store hit a full disk.
   */
  check(): Promise<void> {
    const next = this.checking.then(async () => {
      const text = await this.readWritten();
      if (text === undefined || text === this.lastStoredText) return;
      // menuconfig's configs end in a newline: without one the write is not done, or failed (a full disk leaves no
      // error code on the host, only the free space says so). A half file is never stored.
      if (!text.endsWith("\n")) {
        if (lowOnSpace(this.opts.outDir)) throw diskFull(this.opts.dataDir);
        return;
      }
      let id: string;
      try {
        id = await this.opts.store(text);
      } catch (e) {
        const full = asDiskFull(e, this.opts.dataDir);
        if (full !== e) throw full;
        // A half-written file does not parse; the write's next event brings the whole one.
        log.debug({ err: e, session: this.opts.sessionId() }, "written config not stored (yet)");
        return;
      }
      this.lastStoredText = text;
      if (id === this.latest) return;
      this.latest = id;
      this.opts.tell({ type: "saved", configId: id });
    });
    this.checking = next.catch(() => {});
    return next;
  }

  /**
   * An explicit save: what menuconfig wrote is stored; before it wrote anything, `complete`
   * (olddefconfig) makes a whole config of the start. Returns the id stored last.
   */
  async save(complete: (startText: string) => Promise<string>): Promise<string> {
    await this.check();
    this.latest ??= await this.opts.store(await complete((await this.readWritten()) ?? this.startText ?? ""));
    return this.latest;
  }

  /**
   * A store that found the data disk full is told to the client as disk_full (the session
   * goes on) and tried again until there is room; true if `e` was that.
   */
  toldDiskFull(e: unknown): boolean {
    const full = asDiskFull(e, this.opts.dataDir);
    if (!(full instanceof KbsError && full.kind === "disk_full")) return false;
    log.warn({ session: this.opts.sessionId() }, "config not stored: the data disk is full");
    this.opts.tell({ type: "error", code: "disk_full", message: full.message });
    // menuconfig's file is whole in the session's own dir: store it once there is room, without another save.
    if (!this.finished) this.timers.after("store", DISK_FULL_RETRY_MS, () => void this.check().catch((err: unknown) => this.toldDiskFull(err)));
    return true;
  }

  /** The session ends: no more watching; what menuconfig wrote last is stored (a failure is only logged by the caller's end). */
  async finish(): Promise<void> {
    this.finished = true;
    this.timers.clear();
    this.watcher?.close();
    await this.check().catch(() => {});
  }

  /** menuconfig writes CONFIG_NAME into outDir: watch the directory (the file is replaced, not just rewritten). */
  private watch(): fs.FSWatcher | undefined {
    try {
      const watcher = fs.watch(this.opts.outDir, (_event, name) => {
        if (name === SAVED_MARKER) for (const wake of this.writeWaiters.splice(0)) wake();
        if (name !== CONFIG_NAME || this.finished) return;
        this.timers.after("store", SAVE_DEBOUNCE_MS, () => void this.check().catch((e: unknown) => this.toldDiskFull(e) || log.warn({ err: e, session: this.opts.sessionId() }, "autosave failed")));
      });
      watcher.on("error", () => watcher.close());
      return watcher;
    } catch (e) {
      log.error({ err: e, session: this.opts.sessionId() }, "cannot watch the session's output dir; configs will be stored at save and exit only");
      return undefined;
    }
  }

  /**
   * The config menuconfig last wrote. The sandbox could have put anything at that name (a
   * link to a host file, a FIFO, a huge file): only a regular file, read without following
   * links or blocking, is taken; anything else is refused and said once.
   */
  private async readWritten(): Promise<string | undefined> {
    try {
      return (await readUntrusted(this.opts.outDir, CONFIG_NAME, MAX_CONFIG_BYTES))?.toString("utf8");
    } catch (e) {
      if (!(e instanceof UntrustedOutputError)) return undefined;
      if (!this.refusedWrite) {
        this.refusedWrite = true;
        log.warn({ session: this.opts.sessionId(), err: e.message }, "refused what the session's menuconfig left as its config");
        this.opts.tell({ type: "error", code: "config_refused", message: `The config menuconfig wrote was refused: ${e.message}. Nothing of it was stored.` });
      }
      return undefined;
    }
  }
}
