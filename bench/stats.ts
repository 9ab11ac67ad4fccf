/** Summary of repeated samples: what every bench figure reports. */
export interface Stats {
  n: number;
  min: number;
  median: number;
  p95: number;
  max: number;
}

/**
 * Nearest-rank percentile of sorted samples: the value at rank ceil(q*n), so p95 of
 * ten samples is the tenth (the worst) — with few samples p95 is not flattered.
 */
function percentile(sorted: number[], q: number): number {
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[rank - 1]!;
}

/** min / median / p95 / max of the samples; throws on an empty list (a figure must have been measured). */
export function stats(samples: readonly number[]): Stats {
  if (!samples.length) throw new Error("stats() of no samples");
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { n: sorted.length, min: sorted[0]!, median, p95: percentile(sorted, 0.95), max: sorted[sorted.length - 1]! };
}

/** Milliseconds since `t0` (a performance.now() reading), to 0.01 ms. */
export function msSince(t0: number): number {
  return Math.round((performance.now() - t0) * 100) / 100;
}

/** Time one run of `fn` in milliseconds. */
export async function timeMs(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return msSince(t0);
}

/**
 * Run `fn` `n` times in sequence and collect what it returns (a measurement each);
 * `warmup` runs first and are thrown away (caches, JIT, a tmux server starting).
 */
export async function repeat(n: number, fn: (i: number) => Promise<number>, warmup = 0): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await fn(-1 - i);
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(await fn(i));
  return out;
}
