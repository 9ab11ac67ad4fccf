import { log } from "../core/log";
import { counter, gauge, histogram } from "../core/metrics";
import type { PoolKey, SandboxBackend, WarmSandbox } from "./types";

const warmGauge = gauge("kbs_sandbox_warm", "Warm sandboxes waiting in the pool", ["image"]);
const claimedTotal = counter("kbs_sandbox_claimed_total", "Sandboxes claimed from the pool (warm or cold-started)", ["image", "from"]);
const spawnSeconds = histogram("kbs_sandbox_spawn_seconds", "Time to start a warm sandbox until it is ready", ["backend", "image"], [
  0.025, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30,
]);
export const liveGauge = gauge("kbs_sandbox_live", "Sandboxes alive (warm, claimed and running jobs)");

const REFILL_DELAY_MS = 300;

/** Runs at most `limit` tasks at once; urgent ones (claims) go before refills. */
class Limiter {
  private active = 0;
  private urgent: Array<() => void> = [];
  private background: Array<() => void> = [];
  constructor(private readonly limit: number) {}
  async run<T>(urgent: boolean, fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((r) => (urgent ? this.urgent : this.background).push(r));
    else this.active++;
    try {
      return await fn();
    } finally {
      const next = this.urgent.shift() ?? this.background.shift();
      if (next) next();
      else this.active--;
    }
  }
}

interface Entry {
  sandbox: WarmSandbox & { ready?: Promise<void> };
  bornAt: number;
}

export interface PoolOptions {
  /** Warm sandboxes kept per image. */
  size: number;
  /** Images kept warm once started. */
  images: string[];
  /** Warm sandboxes idle longer than this are replaced. */
  idleMs: number;
  /** Sandboxes starting at once. */
  spawnConcurrency: number;
}

export interface PoolStats {
  backend: string;
  size: number;
  started: boolean;
  images: Record<string, { warm: number; starting: number; spawned: number; claimed: number; coldStarts: number; failures: number; lastError?: string }>;
}

/**
 * Keeps `size` warm sandboxes per image of one backend. A claim takes the oldest warm
 * one (never handing one out twice) or cold-starts one when none is ready, and the pool
 * refills in the background. Only a started pool warms; an unstarted one (CLI verbs)
 * cold-starts every claim.
 */
export class SandboxPool {
  private readonly warm = new Map<string, Entry[]>();
  private readonly starting = new Map<string, number>();
  private readonly stats_ = new Map<string, PoolStats["images"][string]>();
  private readonly limiter: Limiter;
  private readonly live = new Set<WarmSandbox>();
  private started = false;
  private closed = false;
  private sweeper: NodeJS.Timeout | undefined;

  constructor(
    private readonly backend: SandboxBackend,
    private readonly opts: PoolOptions,
  ) {
    this.limiter = new Limiter(opts.spawnConcurrency);
    for (const image of opts.images) this.statsOf(image);
  }

  /** Begin warming (kbs serve only) and replacing idle sandboxes. */
  start(): void {
    if (this.started || this.closed) return;
    this.started = true;
    for (const image of this.opts.images) this.refill(image);
    const every = Math.max(1000, Math.min(60_000, this.opts.idleMs / 4));
    this.sweeper = setInterval(() => this.recycleIdle(), every);
    this.sweeper.unref();
  }

  async claim(key: PoolKey): Promise<WarmSandbox> {
    if (this.closed) throw new Error("the sandbox pool is shut down");
    const stats = this.statsOf(key.image);
    const list = this.warm.get(key.image) ?? [];
    let entry: Entry | undefined;
    while ((entry = list.shift())) {
      if ((entry.sandbox as { alive?: boolean }).alive !== false) break;
    }
    this.updateGauge(key.image);
    // Refill a moment later: starting a sandbox costs CPU the claimed one needs for its first frame.
    setTimeout(() => this.refill(key.image), REFILL_DELAY_MS).unref();
    if (entry) {
      stats.claimed++;
      claimedTotal.inc({ image: key.image, from: "warm" });
      return entry.sandbox;
    }
    const sandbox = await this.limiter.run(true, () => this.spawn(key.image));
    stats.claimed++;
    stats.coldStarts++;
    claimedTotal.inc({ image: key.image, from: "cold" });
    return sandbox;
  }

  stats(): PoolStats {
    const images: PoolStats["images"] = {};
    for (const [image, s] of this.stats_) images[image] = { ...s, warm: this.warm.get(image)?.length ?? 0, starting: this.starting.get(image) ?? 0 };
    return { backend: this.backend.name, size: this.opts.size, started: this.started, images };
  }

  /** Sandboxes alive that came from this pool (warm and claimed, until killed). */
  get liveCount(): number {
    return this.live.size;
  }

  /** Wait until every pool image has its warm sandboxes (for tests and the bench). */
  async filled(timeoutMs = 60_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (this.opts.images.some((i) => (this.warm.get(i)?.length ?? 0) < this.opts.size)) {
      if (Date.now() > end) throw new Error(`the pool did not fill within ${timeoutMs} ms: ${JSON.stringify(this.stats().images)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.sweeper) clearInterval(this.sweeper);
    this.warm.clear();
    await Promise.allSettled([...this.live].map((s) => s.kill()));
  }

  private statsOf(image: string) {
    let s = this.stats_.get(image);
    if (!s) {
      s = { warm: 0, starting: 0, spawned: 0, claimed: 0, coldStarts: 0, failures: 0 };
      this.stats_.set(image, s);
    }
    return s;
  }

  private async spawn(image: string): Promise<WarmSandbox> {
    const t0 = performance.now();
    const sandbox = await this.backend.startWarm({ image });
    spawnSeconds.observe({ backend: this.backend.name, image }, (performance.now() - t0) / 1000);
    this.statsOf(image).spawned++;
    this.live.add(sandbox);
    liveGauge.inc();
    let counted = true;
    const forget = () => {
      if (!counted) return;
      counted = false;
      this.live.delete(sandbox);
      liveGauge.dec();
      const list = this.warm.get(image);
      const at = list?.findIndex((e) => e.sandbox === sandbox) ?? -1;
      if (list && at >= 0) {
        list.splice(at, 1);
        this.updateGauge(image);
        this.refill(image);
      }
    };
    // Killing a sandbox ends its process, so exit covers both ways of going away.
    sandbox.onExit(forget);
    if (this.closed) await sandbox.kill();
    return sandbox;
  }

  private refill(image: string): void {
    if (!this.started || this.closed || !this.opts.images.includes(image)) return;
    const have = (this.warm.get(image)?.length ?? 0) + (this.starting.get(image) ?? 0);
    for (let i = have; i < this.opts.size; i++) this.startOne(image);
  }

  private startOne(image: string): void {
    const stats = this.statsOf(image);
    this.starting.set(image, (this.starting.get(image) ?? 0) + 1);
    void this.limiter
      .run(false, () => this.spawn(image))
      .then(
        (sandbox) => {
          if (this.closed) return void sandbox.kill();
          const list = this.warm.get(image) ?? [];
          list.push({ sandbox, bornAt: Date.now() });
          this.warm.set(image, list);
        },
        (e: Error) => {
          stats.failures++;
          stats.lastError = e.message;
          log.error({ err: e, image, backend: this.backend.name }, "could not start a warm sandbox");
          // Try again later rather than in a tight loop.
          setTimeout(() => this.refill(image), 5000).unref();
        },
      )
      .finally(() => {
        this.starting.set(image, (this.starting.get(image) ?? 1) - 1);
        this.updateGauge(image);
      });
  }

  private recycleIdle(): void {
    const now = Date.now();
    for (const [image, list] of this.warm) {
      const old = list.filter((e) => now - e.bornAt > this.opts.idleMs);
      if (!old.length) continue;
      this.warm.set(image, list.filter((e) => !old.includes(e)));
      for (const e of old) void e.sandbox.kill();
      this.updateGauge(image);
      this.refill(image);
    }
  }

  private updateGauge(image: string): void {
    warmGauge.set({ image }, this.warm.get(image)?.length ?? 0);
  }
}
