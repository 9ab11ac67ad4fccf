import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { killAllGroups } from "../server/core/proc";
import { stats, type Stats } from "./stats";
import { loadSuite, suites, type SuiteEntry } from "./suites";
import { meets, parseTarget } from "./target";
import type { BenchContext, BenchFigure } from "./types";

/** One figure as reported: the suite's samples summarised and checked against the target. */
export interface FigureResult {
  suite: string;
  name: string;
  unit: BenchFigure["unit"];
  samples: number[];
  stats?: Stats;
  baseline?: { name: string; samples: number[]; stats?: Stats };
  /** median / baseline median */
  ratio?: number;
  target?: string;
  verdict: "pass" | "miss" | "n/a" | "skipped";
  note?: string;
  skipped?: string;
}

export interface Machine {
  host: string;
  cpus: number;
  cpuModel: string;
  memGiB: number;
  os: string;
  kernel: string;
  node: string;
}

export interface BenchReport {
  machine: Machine;
  startedAt: string;
  durationMs: number;
  options: BenchOptions;
  suites: Array<{ name: string; ms: number; figures: number; error?: string }>;
  figures: FigureResult[];
}

export interface BenchOptions {
  quick: boolean;
  full: boolean;
  kernelBuild: boolean;
  project?: string;
  /** Suite names to run; all when empty. */
  only: string[];
}

export function describeMachine(): Machine {
  let osName = `${os.type()} ${os.release()}`;
  try {
    const rel = fs.readFileSync("/etc/os-release", "utf8");
    osName = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(rel)?.[1] ?? osName;
  } catch {
    /* not Linux: os.type() will do */
  }
  return {
    host: os.hostname(),
    cpus: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model.trim() ?? "unknown",
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    os: osName,
    kernel: os.release(),
    node: process.version,
  };
}

/** Summarise one figure as the suite returned it. */
export function summarise(suite: string, f: BenchFigure): FigureResult {
  const base = { suite, name: f.name, unit: f.unit, samples: f.samples, target: f.target, note: f.note };
  if (f.skipped || !f.samples.length) return { ...base, verdict: "skipped", skipped: f.skipped ?? "no samples" };
  const s = stats(f.samples);
  const baseline = f.baseline && { ...f.baseline, stats: f.baseline.samples.length ? stats(f.baseline.samples) : undefined };
  const ratio = baseline?.stats && baseline.stats.median !== 0 ? s.median / baseline.stats.median : undefined;
  const target = f.target ? parseTarget(f.target, f.unit) : undefined;
  const ok = target ? meets(target, s, ratio) : undefined;
  return { ...base, stats: s, baseline, ratio, verdict: ok === undefined ? "n/a" : ok ? "pass" : "miss" };
}

/** Remove a scratch dir; a failure (something still writing into it) is logged by the caller's exit, not fatal. */
export function removeDir(dir: string): boolean {
  try {
    fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    return true;
  } catch {
    return false;
  }
}

/** Per-suite time budget: a suite past it is stopped (signal aborted) and reported as skipped. */
function budgetMs(opts: BenchOptions): number {
  if (opts.kernelBuild || opts.full) return 90 * 60_000;
  return opts.quick ? 5 * 60_000 : 8 * 60_000;
}

/**
 * Run the selected suites one after another in their own scratch dirs under
 * `workDir`; a suite that throws, or runs past its budget, becomes one skipped row
 * with the reason, never the end of the run.
 */
export async function runBench(opts: BenchOptions & { workDir: string; log(message: string): void; entries?: SuiteEntry[] }): Promise<BenchReport> {
  const startedAt = new Date();
  const t0 = performance.now();
  const all = opts.entries ?? suites;
  const unknown = opts.only.filter((n) => !all.some((s) => s.name === n));
  if (unknown.length) throw new Error(`unknown suite(s): ${unknown.join(", ")}; suites are: ${all.map((s) => s.name).join(", ")}`);
  const selected = opts.only.length ? all.filter((s) => opts.only.includes(s.name)) : all;
  const report: BenchReport = {
    machine: describeMachine(),
    startedAt: startedAt.toISOString(),
    durationMs: 0,
    options: { quick: opts.quick, full: opts.full, kernelBuild: opts.kernelBuild, project: opts.project, only: opts.only },
    suites: [],
    figures: [],
  };
  for (const entry of selected) {
    const s0 = performance.now();
    const workDir = path.join(opts.workDir, entry.name);
    fs.mkdirSync(workDir, { recursive: true });
    const abort = new AbortController();
    const ctx: BenchContext = {
      workDir,
      quick: opts.quick,
      full: opts.full,
      kernelBuild: opts.kernelBuild,
      project: opts.project,
      signal: abort.signal,
      log: (m) => opts.log(`[${entry.name}] ${m}`),
    };
    let error: string | undefined;
    let figures: BenchFigure[] = [];
    let timer: NodeJS.Timeout | undefined;
    try {
      const suite = await loadSuite(entry);
      opts.log(`[${entry.name}] running: ${entry.about}`);
      const budget = budgetMs(opts);
      figures = await Promise.race([
        suite(ctx),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            abort.abort();
            reject(new Error(`stopped after its budget of ${Math.round(budget / 60_000)} min`));
          }, budget);
        }),
      ]);
    } catch (e) {
      error = e instanceof Error ? e.message : String(e);
      opts.log(`[${entry.name}] skipped: ${error.split("\n")[0]}`);
    } finally {
      clearTimeout(timer);
      killAllGroups();
      // A suite stopped at its budget may still be writing here: its dir goes with the whole work dir at the end.
      if (!abort.signal.aborted) removeDir(workDir);
    }
    if (error !== undefined) report.figures.push({ suite: entry.name, name: entry.name, unit: "count", samples: [], verdict: "skipped", skipped: error });
    else report.figures.push(...figures.map((f) => summarise(entry.name, f)));
    report.suites.push({ name: entry.name, ms: Math.round(performance.now() - s0), figures: figures.length, error });
  }
  report.durationMs = Math.round(performance.now() - t0);
  return report;
}
