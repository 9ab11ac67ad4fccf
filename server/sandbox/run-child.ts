import type { ChildProcess } from "node:child_process";
import { Readable } from "node:stream";
import { spawnGroup } from "../core/proc";
import { DEFAULT_MAX_OUTPUT, DEFAULT_TIMEOUT_MS } from "./common";
import type { RunRequest, RunResult } from "./types";

/** Keeps the last `max` bytes of a stream. */
class TailBuffer {
  private chunks: Buffer[] = [];
  private size = 0;
  constructor(private readonly max: number) {}
  push(b: Buffer): void {
    this.chunks.push(b);
    this.size += b.length;
    while (this.size - this.chunks[0]!.length >= this.max) this.size -= this.chunks.shift()!.length;
  }
  take(): Buffer {
    const all = Buffer.concat(this.chunks);
    return all.length > this.max ? all.subarray(all.length - this.max) : all;
  }
}

/** Where the job's output comes out of the outer process (qemu: extra pipes fed by serial ports). */
export interface ChildIo {
  /** Pipes to open (fds 0..n-1); default 3. */
  fds?: number;
  stdoutFd?: number;
  /** The job's stderr when it does not come out of the child's fd 2 (qemu: a serial port socket). */
  stderr?: Readable;
  /** Streams whose end is awaited before the result is final. */
  waitFor?: Array<Promise<unknown>>;
  onSpawn?(child: ChildProcess): void;
  /** The outer command's environment (default empty: sandboxes get theirs from the backend). */
  env?: NodeJS.ProcessEnv;
}

/**
 * Run a sandbox's outer command with pipes to completion. `killTree` must kill every
 * process of the sandbox and resolve once none is left; it runs on timeout, abort and
 * after a normal exit (so nothing the job left behind survives it).
 */
export function runChild(
  cmd: string,
  args: string[],
  req: RunRequest,
  killTree: (pid: number | undefined) => Promise<void>,
  io: ChildIo = {},
): Promise<RunResult> {
  const start = Date.now();
  const maxOutput = req.maxOutputBytes ?? DEFAULT_MAX_OUTPUT;
  return new Promise<RunResult>((resolve, reject) => {
    const child = spawnGroup(cmd, args, { stdio: Array.from({ length: io.fds ?? 3 }, () => "pipe" as const), env: io.env ?? ({} as NodeJS.ProcessEnv) });
    io.onSpawn?.(child);
    const stdout = new TailBuffer(maxOutput);
    const stderr = new TailBuffer(maxOutput);
    let timedOut = false;
    let killed: Promise<void> | undefined;
    const kill = () => (killed ??= killTree(child.pid));
    const timer = setTimeout(() => {
      timedOut = true;
      void kill();
    }, req.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    const onAbort = () => void kill();
    req.signal?.addEventListener("abort", onAbort, { once: true });
    if (req.signal?.aborted) onAbort();

    (child.stdio[io.stdoutFd ?? 1] as Readable).on("data", (d: Buffer) => {
      stdout.push(d);
      req.onOutput?.(d, "stdout");
    });
    (io.stderr ?? child.stderr!).on("data", (d: Buffer) => {
      stderr.push(d);
      req.onOutput?.(d, "stderr");
    });
    child.stdin!.on("error", () => {
      /* the job may not read its input */
    });
    const input = req.stdin;
    if (input instanceof Readable) {
      input.on("error", (e) => {
        child.stdin!.destroy(e);
        void kill();
      });
      input.pipe(child.stdin!);
    } else {
      child.stdin!.end(input);
    }
    child.on("error", (e) => {
      clearTimeout(timer);
      req.signal?.removeEventListener("abort", onAbort);
      void kill().finally(() => reject(e));
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      req.signal?.removeEventListener("abort", onAbort);
      void Promise.all(io.waitFor ?? []).then(kill).then(
        () =>
          resolve({
            code,
            signal,
            timedOut,
            stdout: stdout.take(),
            stderr: stderr.take(),
            durationMs: Date.now() - start,
          }),
        reject,
      );
    });
  });
}
