import type { ChangedSymbol, ConfigDiff } from "../../contracts/api";

type Row = { symbol: string; kind: "added" | "removed" | "changed"; from?: string; to?: string };

const look = {
  added: { sign: "+", row: "bg-emerald-950/40", text: "text-emerald-300" },
  removed: { sign: "−", row: "bg-red-950/40", text: "text-red-300" },
  changed: { sign: "~", row: "bg-amber-950/30", text: "text-amber-300" },
};

export function diffRows(diff: ConfigDiff): Row[] {
  return [
    ...diff.changed.map((c) => ({ symbol: c.symbol, kind: "changed" as const, from: c.from, to: c.to })),
    ...diff.added.map((a) => ({ symbol: a.symbol, kind: "added" as const, to: a.value })),
    ...diff.removed.map((r) => ({ symbol: r.symbol, kind: "removed" as const, from: r.value })),
  ].sort((a, b) => a.symbol.localeCompare(b.symbol));
}

/** Against the revision's defaults: every changed symbol goes from its default to its value. */
export function defaultsRows(changed: ChangedSymbol[]): Row[] {
  return changed.map((c) => ({ symbol: c.symbol, kind: c.default === null || c.default === "" ? "added" : "changed", from: c.default ?? undefined, to: c.value }));
}

/** A diff as a colored table: green added, red removed, amber changed (from → to); `symbolHref` links the names. */
export function ConfigDiffTable(props: { rows: Row[]; fromLabel: string; toLabel: string; symbolHref?: (symbol: string) => string }) {
  if (props.rows.length === 0) return <p className="py-3 text-sm text-slate-400">No differences.</p>;
  return (
    <div className="overflow-x-auto">
      <table className="w-full border-collapse font-mono text-xs">
        <thead>
          <tr className="text-left text-slate-400">
            <th className="w-6 py-1 font-normal" aria-label="kind" />
            <th className="py-1 pr-3 font-normal">symbol</th>
            <th className="py-1 pr-3 font-normal">{props.fromLabel}</th>
            <th className="py-1 font-normal">{props.toLabel}</th>
          </tr>
        </thead>
        <tbody>
          {props.rows.map((r) => (
            <tr key={r.symbol} className={`${look[r.kind].row} border-t border-slate-900`} data-diff={r.kind}>
              <td className={`py-1 pl-2 ${look[r.kind].text}`} title={r.kind}>
                {look[r.kind].sign}
              </td>
              <td className="break-all py-1 pr-3 text-slate-200">
                {props.symbolHref ? (
                  <a href={props.symbolHref(r.symbol)} className="hover:text-emerald-300 hover:underline">
                    {r.symbol}
                  </a>
                ) : (
                  r.symbol
                )}
              </td>
              <td className="break-all py-1 pr-3 text-red-300/90">{r.from ?? <span className="text-slate-600">—</span>}</td>
              <td className="break-all py-1 text-emerald-300">{r.to ?? <span className="text-slate-600">—</span>}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
