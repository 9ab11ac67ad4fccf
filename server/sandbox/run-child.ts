import { Readable } from "node:stream";
import { spawnGroup } from "../proc";
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
): Promise<RunResult> {
  const start = Date.now();
  const maxOutput = req.maxOutputBytes ?? DEFAULT_MAX_OUTPUT;
  return new Promise<RunResult>((resolve, reject) => {
    const child = spawnGroup(cmd, args, { stdio: ["pipe", "pipe", "pipe"], env: {} as NodeJS.ProcessEnv });
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

    child.stdout!.on("data", (d: Buffer) => {
      stdout.push(d);
      req.onOutput?.(d, "stdout");
    });
    child.stderr!.on("data", (d: Buffer) => {
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
      void kill().then(
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
