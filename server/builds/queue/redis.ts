import { Queue, Worker } from "bullmq";
import IORedis from "ioredis";
import type { BuildStore } from "../store";
import { workerName } from "./embedded";
import type { BuildQueue, Job } from "./types";

export const QUEUE = "kbs-builds";
/** Heartbeat: a dead worker's job is retried within about lockMs + stalledMs (remote workers use the same). */
export const queueTiming = { lockMs: 10_000, stalledMs: 5_000 };

/**
 * BullMQ on Redis: any number of `kbs worker` processes take jobs. A worker holds a
 * lock on its job and renews it while the build runs (the heartbeat); when a worker
 * dies its lock lapses, the stalled-job check puts the job back, and another worker
 * takes it over — the store's attempt counter makes only the last attempt's result count.
 * These workers share the data dir (gitref, configs, artifacts, logs, the build records);
 * remote ones (builds/remote/worker.ts) take jobs from the same queue and claim them through the API.
 */
export class RedisQueue implements BuildQueue {
  readonly engine = "redis";
  private queue: Queue;
  private workers: Worker[] = [];
  private connections: IORedis[] = [];

  constructor(
    private store: BuildStore,
    private url: string,
    private timing = queueTiming,
  ) {
    // Adding jobs fails fast when Redis is down; workers wait for it (BullMQ needs maxRetriesPerRequest null there).
    this.queue = new Queue(QUEUE, { connection: this.connect(2) });
  }

  private connect(maxRetriesPerRequest: number | null = null): IORedis {
    const c = new IORedis(this.url, { maxRetriesPerRequest });
    c.on("error", () => {}); // reconnects on its own; errors surface on the calls that need it
    this.connections.push(c);
    return c;
  }

  async enqueue(id: string): Promise<void> {
    await this.queue.add("build", { id }, { jobId: id, removeOnComplete: true, removeOnFail: true, attempts: 100 });
  }

  async work(concurrency: number, handler: (job: Job) => Promise<void>): Promise<void> {
    const worker = new Worker(
      QUEUE,
      async (job) => {
        const id = (job.data as { id: string }).id;
        const attempt = this.store.claim(id, `${workerName()}/${job.id}`);
        // A handler that throws hands the job back (its worker is stopping): BullMQ retries it elsewhere.
        if (attempt !== undefined) await handler({ id, attempt });
      },
      {
        connection: this.connect(),
        concurrency,
        lockDuration: this.timing.lockMs,
        stalledInterval: this.timing.stalledMs,
        maxStalledCount: 5,
      },
    );
    // Connection errors are retried by the worker itself; start-up never waits for Redis.
    worker.on("error", () => {});
    this.workers.push(worker);
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.close()));
    await this.queue.close();
    for (const c of this.connections) c.disconnect();
  }
}
