/**
 * A benchmark figure: repeated samples of one measurement, beside the baseline
 * measured in the same run where there is one, so the ratio holds on a noisy machine.
 */
export interface BenchFigure {
  /** e.g. "revdb.index.full" */
  name: string;
  unit: "ms" | "s" | "MB" | "KB" | "commits/s" | "jobs/min" | "ratio" | "count" | "bytes";
  samples: number[];
  baseline?: { name: string; samples: number[] };
  /**
   * The target, as text the runner can check: `[min|p50|median|p95|max] <op> <number> [unit]`
   * with op one of <= < >= > (or ≤ ≥), e.g. "p50 <= 100 ms", "p95 <= 20 ms", ">= 2000 commits/s",
   * "<= 1.10 ratio". The statistic defaults to the median; a unit of ms/s or KB/MB/bytes is converted
   * to the figure's unit. Text the runner cannot read is shown and marked "n/a".
   */
  target?: string;
  note?: string;
  /** Set (with the reason) when the figure could not be measured here. */
  skipped?: string;
}

export interface BenchContext {
  /** A scratch directory for fixtures and data dirs; removed after the run. */
  workDir: string;
  /** Fewer repetitions and smaller fixtures (CI). */
  quick: boolean;
  log(message: string): void;
  /** `kbs bench --project <id>`: also measure session and build figures on this operator-added project. */
  project?: string;
  /** `kbs bench --kernel-build`: run the long opt-in figures (a real kernel build). */
  kernelBuild?: boolean;
  /** `kbs bench --full`: the full sizes (load at 50 and 100 sessions). */
  full?: boolean;
  /** Aborted when the suite runs past its time budget: stop work and clean up. */
  signal?: AbortSignal;
}

/**
 * A group of figures from one part (revdb, sandbox, terminal, builds, ...), exported
 * from `server/<part>/bench.ts` as `export const suite: BenchSuite` (a default export
 * works too); bench/suites.ts lists the suites. Baselines (local menuconfig in
 * tmux, bare make, ls-tree index) and `stats()` are in bench/baselines.ts, the
 * fixture generators in test/fixtures/fake-firmware.ts. A suite that throws is reported as
 * skipped with the error; a figure it cannot measure here sets `skipped` with the reason.
 */
export type BenchSuite = (ctx: BenchContext) => Promise<BenchFigure[]>;
