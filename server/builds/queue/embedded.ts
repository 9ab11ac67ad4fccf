import os from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import type { BuildStore } from "../store";
import type { BuildQueue, Job } from "./types";

/** `host:pid`: how a worker is named in the store, so a restart can tell whose builds were left behind. */
export const workerName = () => `${os.hostname()}:${process.pid}`;

/** A worker is gone when it ran on this host and its process no longer exists. */
export function workerGone(worker: string): boolean {
  const m = /^(.*):(\d+)(?:\/\d+)?$/.exec(worker);
  if (!m || m[1] !== os.hostname()) return false;
  try {
    process.kill(Number(m[2]), 0);
    return Number(m[2]) === process.pid; // our own pid: left by an earlier process that had it
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "ESRCH";
  }
}

/**
 * The default engine: the queue is the `queued` rows of the build store; workers
 * claim the oldest atomically (also safe between processes sharing the data dir).
 * They wake at once for builds queued in this process and poll for the others.
 */
export class EmbeddedQueue implements BuildQueue {
  readonly engine = "embedded";
  private closed = false;
  private wakers = new Set<() => void>();
  private loops: Array<Promise<void>> = [];
  private stop = new AbortController();

  constructor(private store: BuildStore) {}

  async enqueue(): Promise<void> {
    for (const wake of this.wakers) wake();
  }

  async work(concurrency: number, handler: (job: Job) => Promise<void>): Promise<void> {
    for (let slot = 0; slot < concurrency; slot++) this.loops.push(this.loop(`${workerName()}/${slot}`, handler));
  }

  private async loop(name: string, handler: (job: Job) => Promise<void>): Promise<void> {
    while (!this.closed) {
      const job = this.store.claimNext(name);
      if (job) {
        await handler(job).catch(() => undefined); // a stopping worker's job is back in the queue already
        continue;
      }
      await new Promise<void>((resolve) => {
        const wake = () => {
          this.wakers.delete(wake);
          resolve();
        };
        this.wakers.add(wake);
        void sleep(1000, undefined, { signal: this.stop.signal }).catch(() => undefined).then(wake);
      });
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.stop.abort();
    for (const wake of this.wakers) wake();
    await Promise.all(this.loops);
  }
}
