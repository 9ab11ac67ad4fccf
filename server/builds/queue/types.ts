/** One attempt of a build, handed to a worker. */
export interface Job {
  id: string;
  attempt: number;
}

/**
 * Where queued builds wait and how workers get them. Two engines: `embedded`
 * (SQLite, workers in this process) and `redis` (BullMQ; `kbs worker` processes
 * anywhere). The build records themselves always live in the BuildStore.
 */
export interface BuildQueue {
  readonly engine: "embedded" | "redis";
  /** Make a build that is queued in the store reach a worker. Idempotent. */
  enqueue(id: string): Promise<void>;
  /** Run `concurrency` workers in this process until close(). */
  work(concurrency: number, handler: (job: Job) => Promise<void>): Promise<void>;
  close(): Promise<void>;
}
