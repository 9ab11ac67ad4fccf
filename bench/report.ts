import type { BenchReport, FigureResult, Machine } from "./runner";

/** A number to about three significant digits, as people read figures. */
export function fmt(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return "";
  const a = Math.abs(v);
  if (Number.isInteger(v)) return String(v);
  if (a >= 100) return String(Math.round(v));
  if (a >= 10) return v.toFixed(1);
  if (a >= 0.01 || a === 0) return v.toFixed(2);
  return v.toPrecision(2);
}

export const columns = ["figure", "unit", "min", "median", "p95", "baseline median", "ratio", "target", "result"] as const;

/** The row of cells for one figure (a skipped figure says why in the result cell). */
export function row(f: FigureResult): string[] {
  if (f.verdict === "skipped") return [f.name, "", "", "", "", "", "", f.target ?? "", `skipped: ${(f.skipped ?? "").replace(/\s+/g, " ").trim()}`];
  const base = f.baseline?.stats ? `${fmt(f.baseline.stats.median)} (${f.baseline.name})` : "";
  return [
    f.name,
    f.unit,
    fmt(f.stats?.min),
    fmt(f.stats?.median),
    fmt(f.stats?.p95),
    base,
    f.ratio === undefined ? "" : `${fmt(f.ratio)}x`,
    f.target ?? "",
    f.verdict === "n/a" ? (f.target ? "n/a" : "") : f.verdict,
  ];
}

/** The rows of a report; a skip reason repeated from the row above is said once. */
export function rows(figures: FigureResult[]): string[][] {
  return figures.map((f, i) => {
    const cells = row(f);
    const prev = figures[i - 1];
    if (f.verdict === "skipped" && prev?.verdict === "skipped" && prev.skipped === f.skipped) cells[8] = "skipped: as above";
    return cells;
  });
}

export function machineLine(m: Machine): string {
  return `${m.cpus} cores (${m.cpuModel}), ${m.memGiB} GiB, ${m.os}, Linux ${m.kernel}, Node ${m.node}`;
}

function summaryLine(r: BenchReport): string {
  const count = (v: FigureResult["verdict"]) => r.figures.filter((f) => f.verdict === v).length;
  return `${r.figures.length} figures: ${count("pass")} pass, ${count("miss")} miss, ${count("n/a")} without target, ${count("skipped")} skipped; ran ${fmt(r.durationMs / 1000)} s`;
}

function optionsLine(r: BenchReport): string {
  const o = r.options;
  const flags = [o.quick && "--quick", o.full && "--full", o.kernelBuild && "--kernel-build", o.project && `--project ${o.project}`, o.only.length && `--only ${o.only.join(",")}`];
  return `kbs bench ${flags.filter(Boolean).join(" ")}`.trim();
}

/** The plain-text table printed on the terminal. */
export function textTable(r: BenchReport): string {
  const maxReason = 60;
  const table = rows(r.figures).map((cells) => cells.map((c) => (c.length > maxReason ? c.slice(0, maxReason - 1) + "…" : c)));
  const all = [[...columns], ...table];
  const widths = columns.map((_, i) => Math.max(...all.map((cells) => cells[i]!.length)));
  const numeric = new Set([2, 3, 4, 6]);
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (numeric.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  const out = [line(all[0]!), widths.map((w) => "-".repeat(w)).join("  "), ...table.map(line)];
  return [`${optionsLine(r)} on ${machineLine(r.machine)}`, "", ...out, "", summaryLine(r)].join("\n") + "\n";
}

/** The Markdown table (README "Performance", --out FILE.md). */
export function markdownTable(r: BenchReport): string {
  const esc = (c: string) => c.replace(/\|/g, "\\|").replace(/\n/g, " ");
  const lines = [
    `\`${optionsLine(r)}\` on ${machineLine(r.machine)}, ${r.startedAt.slice(0, 16).replace("T", " ")} UTC.`,
    "",
    `| ${columns.join(" | ")} |`,
    `|${columns.map((_, i) => ([2, 3, 4, 6].includes(i) ? "---:" : "---")).join("|")}|`,
    ...rows(r.figures).map((cells) => `| ${cells.map(esc).join(" | ")} |`),
    "",
    summaryLine(r) + ".",
  ];
  return lines.join("\n") + "\n";
}
