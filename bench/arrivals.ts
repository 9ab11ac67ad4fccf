import { api, LoadTerminal } from "./load";
import type { BenchFigure } from "./types";

/** The top frame of either frontend, whatever the tree's title: Kconfiglib's "(Top)", mconf's help line. */
export const topFrame = /\(Top\)|Arrow keys navigate the menu/;

const WARM_POOL = 'kbs_sandbox_warm{image="menuconfig"}';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One session as a browser opens it: POST, socket, init, until the top menu is drawn; then the tab closes (code 1000 ends it). */
export async function sessionFirstFrame(url: string, project: string, rev: string, timeoutMs = 120_000): Promise<number> {
  const t0 = performance.now();
  const created = await api<{ wsPath: string }>(`${url}/api/sessions`, { method: "POST", body: { project, rev } });
  const term = await LoadTerminal.open(url, created.wsPath, 120, 40);
  try {
    await term.until("the top menu", () => topFrame.test(term.screen()), timeoutMs);
    return Math.round(performance.now() - t0);
  } finally {
    term.close();
  }
}

/** A gauge or counter's value in the server's /metrics (0 when absent). */
export async function metric(url: string, series: string): Promise<number> {
  const line = (await (await fetch(`${url}/metrics`)).text()).split("\n").find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

/** Wait until `series` reaches `atLeast`, or give up after `timeoutMs` (returns whether it did). */
export async function metricAtLeast(url: string, series: string, atLeast: number, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if ((await metric(url, series)) >= atLeast) return true;
    await sleep(100);
  }
  return false;
}

export interface ArrivalFigures {
  firstAfterSync: number;
  backToBack: number[];
  /** The same burst again, once the primer has topped the tree up to the demand the first burst showed. */
  backToBackAgain: number[];
  /** Primed sessions the tree had ready when the second burst began. */
  stockAgain: number;
  spaced: number[];
  hits: number;
  misses: number;
}

/**
 * Issue 19's arrival patterns on one tree, through a `kbs serve` that primes (a fresh
 * one, right after the project's sync): the first session after the sync (once the
 * warm pool is up), then (once the
 * tree's primed session drew) `n` sessions back to back — each opened as the previous
 * one drew and closed, five maintainers one after another — then, once the primer
 * has launched what that burst's demand asks for, the same burst again; then `n`
 * sessions `spacedMs` apart. Hits and misses are the primer's, from /metrics.
 */
export async function arrivalPatterns(url: string, project: string, rev: string, o: { n: number; spacedMs: number; log(m: string): void }): Promise<ArrivalFigures> {
  const primed = `kbs_sessions_primed{project="${project}"}`;
  // The server's own start (its warm pool booting) is not what a user after a sync meets.
  await metricAtLeast(url, WARM_POOL, 1, 60_000);
  o.log("the first session after the sync");
  const firstAfterSync = await sessionFirstFrame(url, project, rev);
  await metricAtLeast(url, primed, 1, 180_000);
  o.log(`${o.n} sessions back to back`);
  const backToBack: number[] = [];
  for (let i = 0; i < o.n; i++) backToBack.push(await sessionFirstFrame(url, project, rev));
  // The primer saw the burst: once it has launched what the tree's demand now asks for, the same burst again.
  const deadline = performance.now() + 180_000;
  // What the demand asks for moves as the primer measures launches: compared afresh each time.
  while (performance.now() < deadline && (await metric(url, primed)) < Math.max(1, await metric(url, `kbs_sessions_primed_wanted{project="${project}"}`))) await sleep(100);
  const stockAgain = await metric(url, primed);
  o.log(`${o.n} sessions back to back again (${stockAgain} primed ready)`);
  const backToBackAgain: number[] = [];
  for (let i = 0; i < o.n; i++) backToBackAgain.push(await sessionFirstFrame(url, project, rev));
  // The burst's primed sessions settle before the spaced ones start: what they measure is the steady pace.
  await metricAtLeast(url, primed, 1, 180_000);
  o.log(`${o.n} sessions ${o.spacedMs / 1000} s apart`);
  const spaced: number[] = [];
  for (let i = 0; i < o.n; i++) {
    const t0 = performance.now();
    spaced.push(await sessionFirstFrame(url, project, rev));
    if (i < o.n - 1) await sleep(Math.max(0, o.spacedMs - (performance.now() - t0)));
  }
  return {
    firstAfterSync,
    backToBack,
    backToBackAgain,
    stockAgain,
    spaced,
    hits: await metric(url, `kbs_sessions_primed_hits_total{project="${project}"}`),
    misses: await metric(url, `kbs_sessions_primed_misses_total{project="${project}"}`),
  };
}

/**
 * The first session of each of `runs` fresh servers (`start` one, its warm pool up, one
 * session, stopped): more first sessions after a sync than one server gives, so the figure
 * is a median and not one sample against the warm median.
 */
export async function firstSessions(start: () => Promise<{ url: string; stop(): Promise<unknown> }>, project: string, rev: string, runs: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < runs; i++) {
    const kbs = await start();
    try {
      await metricAtLeast(kbs.url, WARM_POOL, 1, 60_000);
      out.push(await sessionFirstFrame(kbs.url, project, rev));
    } finally {
      await kbs.stop();
    }
  }
  return out;
}

/** Warm, unprimed first frames (priming off, the pool warm before each): what the first session after a sync must not exceed. */
export async function warmUnprimed(url: string, project: string, rev: string, runs: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < runs; i++) {
    await metricAtLeast(url, WARM_POOL, 1, 60_000);
    out.push(await sessionFirstFrame(url, project, rev));
  }
  return out;
}

/** The arrival figures as bench rows named `<prefix>.first-frame.*`, each beside `baseline` (local make menuconfig); `moreAfterSync`: first sessions of further fresh servers. */
export function arrivalRows(prefix: string, a: ArrivalFigures, warm: number[], baseline: BenchFigure["baseline"], spacedMs: number, moreAfterSync: number[] = []): BenchFigure[] {
  const primer = `primer hits ${a.hits}, misses ${a.misses} over all ${1 + 2 * a.backToBack.length + a.spaced.length} sessions`;
  return [
    { name: `${prefix}.first-frame.back-to-back`, unit: "ms", samples: a.backToBack, baseline, target: "p50 <= 300 ms", note: `${a.backToBack.length} sessions, each opened as the previous one drew; ${primer}` },
    {
      name: `${prefix}.first-frame.back-to-back.again`,
      unit: "ms",
      samples: a.backToBackAgain,
      baseline,
      target: "p50 <= 300 ms",
      note: `the same burst once more, with the ${a.stockAgain} primed sessions the first burst's demand asked for ready`,
    },
    { name: `${prefix}.first-frame.spaced`, unit: "ms", samples: a.spaced, baseline, target: "p50 <= 100 ms", note: `${a.spaced.length} sessions ${spacedMs / 1000} s apart` },
    {
      name: `${prefix}.first-frame.after-sync`,
      unit: "ms",
      samples: [a.firstAfterSync, ...moreAfterSync],
      baseline: { name: "warm, unprimed first frame (KBS_PRIMED_TREES=0), same tree", samples: warm },
      target: "ratio <= 1.0",
      note: `the first session of a fresh kbs serve after kbs sync (the tree's mconf prebuilt by the sync), ${1 + moreAfterSync.length} servers`,
    },
    { name: `${prefix}.first-frame.warm-unprimed`, unit: "ms", samples: warm, baseline, note: "priming off, warm pool: a fresh Kconfig parse per session" },
  ];
}
