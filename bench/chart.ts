import { fmt, machineLine } from "./report";
import type { BenchReport, FigureResult } from "./runner";
import { parseTarget } from "./target";

const clip = (s: string, n: number) => (s.length > n ? s.slice(0, n - 1) + "…" : s);
const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

const W = 1120;
const labelW = 330;
const barW = 400;
const rowH = 40;
const top = 56;
const colour = { figure: "#2563eb", baseline: "#9ca3af", target: "#dc2626", pass: "#15803d", miss: "#b91c1c", text: "#111827" };

/**
 * A hand-written SVG chart of the measured figures: per figure, a bar for the
 * median (whisker min..p95), a grey bar for the baseline median measured in the
 * same run, and a red tick at the target. Units differ, so each row has its own
 * scale from zero; the text on the right gives the numbers and the ratio.
 */
export function svgChart(r: BenchReport): string {
  const figures = r.figures.filter((f): f is FigureResult & { stats: NonNullable<FigureResult["stats"]> } => f.stats !== undefined);
  const height = top + figures.length * rowH + 30;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="12" y="20" font-size="15" font-weight="bold" fill="${colour.text}">kbs bench: figures against their baselines</text>`,
    `<text x="12" y="38" fill="#4b5563">${esc(machineLine(r.machine))}, ${esc(r.startedAt.slice(0, 16).replace("T", " "))} UTC</text>`,
    legend(W - 330, 20),
  ];
  figures.forEach((f, i) => {
    const y = top + i * rowH;
    const target = f.target ? parseTarget(f.target, f.unit) : undefined;
    const targetValue = target && target.stat !== "ratio" ? target.value : undefined;
    const max = Math.max(f.stats.p95, f.baseline?.stats?.median ?? 0, targetValue ?? 0) * 1.08 || 1;
    const x = (v: number) => labelW + (Math.max(0, v) / max) * barW;
    if (i % 2) parts.push(`<rect x="0" y="${y - 4}" width="${W}" height="${rowH}" fill="#f9fafb"/>`);
    parts.push(`<text x="12" y="${y + 13}" fill="${colour.text}">${esc(f.name)}</text>`);
    parts.push(`<text x="12" y="${y + 28}" fill="#6b7280" font-size="10">${esc(f.unit)}${f.target ? `, target ${esc(f.target)}` : ""}</text>`);
    const h = f.baseline?.stats ? 12 : 20;
    parts.push(`<rect x="${labelW}" y="${y}" width="${(x(f.stats.median) - labelW).toFixed(1)}" height="${h}" fill="${colour.figure}"/>`);
    const wy = y + h / 2;
    parts.push(`<line x1="${x(f.stats.min).toFixed(1)}" y1="${wy}" x2="${x(f.stats.p95).toFixed(1)}" y2="${wy}" stroke="${colour.text}" stroke-width="1"/>`);
    parts.push(`<line x1="${x(f.stats.p95).toFixed(1)}" y1="${wy - 4}" x2="${x(f.stats.p95).toFixed(1)}" y2="${wy + 4}" stroke="${colour.text}" stroke-width="1"/>`);
    if (f.baseline?.stats) {
      parts.push(`<rect x="${labelW}" y="${y + 15}" width="${(x(f.baseline.stats.median) - labelW).toFixed(1)}" height="12" fill="${colour.baseline}"><title>${esc(f.baseline.name)}</title></rect>`);
    }
    if (targetValue !== undefined) {
      parts.push(`<line x1="${x(targetValue).toFixed(1)}" y1="${y - 3}" x2="${x(targetValue).toFixed(1)}" y2="${y + 30}" stroke="${colour.target}" stroke-width="2" stroke-dasharray="3,2"/>`);
    }
    const verdictColour = f.verdict === "pass" ? colour.pass : f.verdict === "miss" ? colour.miss : "#6b7280";
    const ratio = f.ratio === undefined ? "" : ` (${fmt(f.ratio)}x baseline)`;
    parts.push(`<text x="${labelW + barW + 12}" y="${y + 13}" fill="${colour.text}">${esc(`${fmt(f.stats.median)} ${f.unit}${ratio}`)}</text>`);
    if (f.baseline?.stats) parts.push(`<text x="${labelW + barW + 12}" y="${y + 27}" fill="#6b7280" font-size="10">${esc(clip(`baseline ${fmt(f.baseline.stats.median)}: ${f.baseline.name}`, 64))}</text>`);
    if (f.verdict === "pass" || f.verdict === "miss") parts.push(`<text x="${W - 12}" y="${y + 13}" text-anchor="end" font-weight="bold" fill="${verdictColour}">${f.verdict}</text>`);
  });
  const skipped = r.figures.length - figures.length;
  parts.push(`<text x="12" y="${height - 10}" fill="#6b7280">${figures.length} figures shown; ${skipped} skipped (see the table for reasons)</text>`);
  parts.push("</svg>");
  return parts.join("\n") + "\n";
}

function legend(x: number, y: number): string {
  const item = (dx: number, fill: string, label: string) =>
    `<rect x="${x + dx}" y="${y - 9}" width="12" height="10" fill="${fill}"/><text x="${x + dx + 16}" y="${y}" fill="${colour.text}">${label}</text>`;
  return [item(0, colour.figure, "median (whisker min..p95)"), item(190, colour.baseline, "baseline"), `<line x1="${x + 265}" y1="${y - 10}" x2="${x + 265}" y2="${y + 2}" stroke="${colour.target}" stroke-width="2" stroke-dasharray="3,2"/><text x="${x + 271}" y="${y}" fill="${colour.text}">target</text>`].join("");
}
