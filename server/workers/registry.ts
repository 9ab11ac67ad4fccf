import client from "prom-client";
import { counter, registry } from "../core/metrics";

/** What a remote worker says about itself (POST /api/worker/hello) and what the server saw it do. */
export interface SeenWorker {
  name: string;
  token: string;
  /** Builds it runs at once. */
  slots: number;
  /** Recipes it has found it can run (their image passed its `kbs doctor` checks), and the images it cannot run, with why. */
  recipes: string[];
  refused: Record<string, string>;
  /** Builds it holds now. */
  running: string[];
  jobs: number;
  lastSeen: string;
}

const workerJobs = counter("kbs_worker_jobs_total", "Build attempts remote workers took, by worker", ["worker"]);

/**
 * The remote workers this server has heard from (GET /api/workers, /metrics). In memory:
 * a worker says hello again every few seconds, so a restarted server knows them again soon.
 */
export class WorkerRegistry {
  private seen = new Map<string, SeenWorker>();

  constructor() {
    const seen = this.seen;
    for (const [name, help, value] of [
      ["kbs_worker_busy", "Builds a remote worker runs now", (w: SeenWorker) => w.running.length],
      ["kbs_worker_last_seen_seconds", "Unix time a remote worker was last heard from", (w: SeenWorker) => Date.parse(w.lastSeen) / 1000],
    ] as const) {
      registry.removeSingleMetric(name);
      new client.Gauge({
        name,
        help,
        labelNames: ["worker"],
        registers: [registry],
        collect() {
          this.reset();
          for (const w of seen.values()) this.set({ worker: w.name }, value(w));
        },
      });
    }
  }

  private entry(name: string, token: string): SeenWorker {
    let w = this.seen.get(name);
    if (!w) {
      w = { name, token, slots: 0, recipes: [], refused: {}, running: [], jobs: 0, lastSeen: new Date().toISOString() };
      this.seen.set(name, w);
    }
    w.token = token;
    w.lastSeen = new Date().toISOString();
    return w;
  }

  hello(name: string, token: string, info: { slots: number; recipes: string[]; refused: Record<string, string>; running: string[] }): void {
    Object.assign(this.entry(name, token), info);
  }

  touch(name: string, token: string): void {
    this.entry(name, token);
  }

  took(name: string, token: string, build: string): void {
    const w = this.entry(name, token);
    w.jobs++;
    if (!w.running.includes(build)) w.running.push(build);
    workerJobs.inc({ worker: name });
  }

  released(name: string, token: string, build: string): void {
    const w = this.entry(name, token);
    w.running = w.running.filter((b) => b !== build);
  }

  refusedImage(name: string, token: string, image: string, reason: string): void {
    this.entry(name, token).refused[image] = reason;
  }

  list(): SeenWorker[] {
    return [...this.seen.values()].sort((a, b) => a.name.localeCompare(b.name));
  }
}
