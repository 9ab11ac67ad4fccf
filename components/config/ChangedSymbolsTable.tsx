import type { ChangedSymbol } from "../../contracts/api";

/** symbol · value · default, for the read-only shared-config page. */
export function ChangedSymbolsTable({ changed }: { changed: ChangedSymbol[] }) {
  if (changed.length === 0) return <p className="py-2 text-sm text-slate-400">Every symbol is at the revision&apos;s default.</p>;
  return (
    <div className="overflow-x-auto">
      <table className="w-full border-collapse text-left font-mono text-xs" aria-label="Changed symbols">
        <thead>
          <tr className="text-slate-400">
            <th className="py-1 pr-3 font-normal">symbol</th>
            <th className="py-1 pr-3 font-normal">value</th>
            <th className="py-1 font-normal">default</th>
          </tr>
        </thead>
        <tbody>
          {changed.map((c) => (
            <tr key={c.symbol} className="border-t border-slate-800" data-symbol={c.symbol}>
              <td className="break-all py-1 pr-3 text-slate-200">{c.symbol}</td>
              <td className="break-all py-1 pr-3 text-emerald-300">{c.value}</td>
              <td className="break-all py-1 text-slate-500">{c.default ?? "—"}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
