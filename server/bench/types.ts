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
  /** The target, as text ("p50 <= 100 ms"). */
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
}

/** A group of figures from one part (revdb, sandbox, terminal, builds, ...). */
export type BenchSuite = (ctx: BenchContext) => Promise<BenchFigure[]>;
