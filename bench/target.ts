import type { BenchFigure } from "./types";
import type { Stats } from "./stats";

/** A figure's target read from its text (see BenchFigure.target). */
export interface Target {
  stat: "min" | "median" | "p95" | "max" | "ratio";
  op: "<=" | "<" | ">=" | ">";
  /** The threshold in the figure's own unit (or as a ratio for stat "ratio"). */
  value: number;
}

const scale: Record<string, { dim: string; factor: number }> = {
  ms: { dim: "time", factor: 1 },
  s: { dim: "time", factor: 1000 },
  bytes: { dim: "size", factor: 1 },
  KB: { dim: "size", factor: 1024 },
  MB: { dim: "size", factor: 1024 * 1024 },
};

const pattern = /^\s*(min|p50|median|p95|max|ratio)?\s*(<=|≤|<|>=|≥|>)\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z/%]+)?\s*$/;

/** Read a target; undefined when the text is not in the checkable form. */
export function parseTarget(text: string, unit: BenchFigure["unit"]): Target | undefined {
  const m = pattern.exec(text);
  if (!m) return undefined;
  const stat = m[1] === "p50" || !m[1] ? "median" : (m[1] as Target["stat"]);
  const op = m[2] === "≤" ? "<=" : m[2] === "≥" ? ">=" : (m[2] as Target["op"]);
  let value = Number(m[3]);
  const given = m[4];
  if (stat === "ratio") {
    if (given && given !== "ratio" && given !== "x") return undefined;
  } else if (given && given !== unit) {
    const from = scale[given];
    const to = scale[unit];
    if (!from || !to || from.dim !== to.dim) return undefined;
    value = (value * from.factor) / to.factor;
  }
  return { stat, op, value };
}

/** Whether the measured value meets the target. */
export function meets(target: Target, s: Stats, ratio: number | undefined): boolean | undefined {
  const v = target.stat === "ratio" ? ratio : s[target.stat];
  if (v === undefined) return undefined;
  switch (target.op) {
    case "<=":
      return v <= target.value;
    case "<":
      return v < target.value;
    case ">=":
      return v >= target.value;
    case ">":
      return v > target.value;
  }
}
