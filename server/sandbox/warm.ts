import { z } from "zod";
import type { Disposable, LaunchJob, WarmSandbox } from "./types";

/** What the warm stub prints once it is ready for its launch line. */
export const READY_MARKER = Buffer.from("\0KBS-READY\0");

/** A terminal a warm sandbox talks through: a host pty (bwrap) or a VM console (qemu). */
export interface Console {
  readonly pid: number;
  onData(cb: (data: Buffer) => void): void;
  onExit(cb: (e: { code: number | null; signal: number | null }) => void): void;
  write(data: string | Buffer): void;
  resize(cols: number, rows: number): void;
  pause(): void;
  resume(): void;
  /** The launch line the guest's stub reads (default: base64 JSON for the Python stub). */
  encodeLaunch?(job: LaunchJob): string;
  /** Work before the launch line goes out (qemu copies /kbs/in into the guest). */
  prepareLaunch?(): Promise<void>;
  /** Send a signal to the stub's Python interpreter; false when none is running. */
  signalStub?(signal: NodeJS.Signals): boolean;
}

const LaunchJobSchema = z.object({
  extract: z.array(z.string().startsWith("/")),
  copy: z.array(z.object({ from: z.string().startsWith("/"), to: z.string().startsWith("/") })).optional(),
  cwd: z.string().startsWith("/"),
  argv: z.array(z.string()).min(1),
  env: z.record(z.string(), z.string()),
  cols: z.number().int().min(2).max(1000),
  rows: z.number().int().min(2).max(1000),
});

type ExitEvent = { code: number | null; signal: number | null };

/**
 * A warm sandbox over a console running the warm stub: output before the stub's
 * ready marker is swallowed (`ready` resolves at the marker), `launch` sends the job,
 * and from then on bytes flow both ways untouched.
 */
export class ConsoleWarmSandbox implements WarmSandbox {
  readonly ready: Promise<void>;
  readonly createdAt = Date.now();
  /** When launch() was called and when the first byte came after it (for the bench). */
  launchedAt = 0;
  firstByteAt = 0;
  private launched = false;
  private preReady: Buffer | null = Buffer.alloc(0);
  private pending: Buffer[] = [];
  private dataListeners = new Set<(d: Buffer) => void>();
  private exitListeners = new Set<(e: ExitEvent) => void>();
  private exited: ExitEvent | null = null;
  private killing: Promise<void> | undefined;
  private gate: Promise<void> | null = null;
  private queued: Array<string | Buffer> = [];

  constructor(
    readonly id: string,
    readonly backend: string,
    readonly image: string,
    readonly inDir: string,
    readonly outDir: string,
    private readonly console: Console,
    private readonly killTree: () => Promise<void>,
    readyTimeoutMs = 60_000,
  ) {
    this.ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`sandbox ${id} did not get ready within ${readyTimeoutMs} ms`)), readyTimeoutMs);
      console.onData((d) => {
        if (this.preReady) {
          const all = Buffer.concat([this.preReady, d]);
          const at = all.indexOf(READY_MARKER);
          if (at < 0) {
            this.preReady = all.length > 65536 ? all.subarray(all.length - 65536) : all;
            return;
          }
          this.preReady = null;
          clearTimeout(timer);
          resolve();
          d = all.subarray(at + READY_MARKER.length);
          if (!d.length) return;
        }
        this.deliver(d);
      });
      console.onExit((e) => {
        clearTimeout(timer);
        this.exited = e;
        if (this.preReady) {
          const said = this.preReady.toString("utf8").replace(/\0/g, "").trim().slice(-2000);
          reject(new Error(`sandbox ${id} exited before it was ready (code ${e.code}, signal ${e.signal})${said ? `: ${said}` : ""}`));
        }
        for (const cb of this.exitListeners) cb(e);
      });
    });
    this.ready.catch(() => void this.kill());
  }

  get pid(): number {
    return this.console.pid;
  }

  get alive(): boolean {
    return !this.exited && !this.killing;
  }

  launch(job: LaunchJob): void {
    if (this.launched) throw new Error(`sandbox ${this.id} was already launched`);
    if (this.preReady) throw new Error(`sandbox ${this.id} is not ready yet`);
    if (this.exited) throw new Error(`sandbox ${this.id} has exited`);
    const parsed = LaunchJobSchema.parse(job) as LaunchJob;
    this.launched = true;
    this.launchedAt = performance.now();
    this.console.resize(parsed.cols, parsed.rows);
    const line = this.console.encodeLaunch?.(parsed) ?? `KBS-LAUNCH ${Buffer.from(JSON.stringify(parsed)).toString("base64")}\n`;
    if (!this.console.prepareLaunch) return this.console.write(line);
    // Input typed before the launch line is out waits behind it.
    this.gate = this.console.prepareLaunch().then(
      () => {
        this.console.write(line);
        for (const d of this.queued) this.console.write(d);
        this.queued = [];
        this.gate = null;
      },
      (e: Error) => {
        this.deliver(Buffer.from(`kbs sandbox: cannot start the job: ${e.message}\r\n`));
        void this.kill();
      },
    );
  }

  write(data: string | Buffer): void {
    if (!this.launched) throw new Error(`sandbox ${this.id}: launch it before writing to it`);
    if (this.exited) return;
    if (this.gate) this.queued.push(data);
    else this.console.write(data);
  }

  resize(cols: number, rows: number): void {
    if (!this.exited) this.console.resize(cols, rows);
  }

  onData(cb: (data: Buffer) => void): Disposable {
    this.dataListeners.add(cb);
    if (this.pending.length) {
      const queued = this.pending;
      this.pending = [];
      for (const d of queued) cb(d);
    }
    return { dispose: () => void this.dataListeners.delete(cb) };
  }

  onExit(cb: (e: ExitEvent) => void): Disposable {
    if (this.exited) {
      const e = this.exited;
      queueMicrotask(() => cb(e));
      return { dispose() {} };
    }
    this.exitListeners.add(cb);
    return { dispose: () => void this.exitListeners.delete(cb) };
  }

  /** The stub handles SIGUSR1 by writing the running menuconfig's config (warm_stub.py). */
  requestSave(): boolean {
    if (!this.launched || this.exited || !this.console.signalStub) return false;
    return this.console.signalStub("SIGUSR1");
  }

  pause(): void {
    this.console.pause();
  }

  resume(): void {
    this.console.resume();
  }

  kill(): Promise<void> {
    return (this.killing ??= this.killTree());
  }

  private deliver(d: Buffer): void {
    if (this.launchedAt && !this.firstByteAt) this.firstByteAt = performance.now();
    if (!this.dataListeners.size) {
      this.pending.push(d);
      return;
    }
    for (const cb of this.dataListeners) cb(d);
  }
}
