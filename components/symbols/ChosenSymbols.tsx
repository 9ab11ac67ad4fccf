import type { ConfigSymbols } from "../../contracts/symbols";
import { reasonText } from "./reason";

type Changed = ConfigSymbols["changed"][number];

const shown = (v: string | null) => (v === null ? "unset" : v === "" ? '""' : v);

function SymbolRow({ c, href }: { c: Changed; href: string }) {
  return (
    <tr data-symbol={c.symbol} data-chosen={c.chosen ? "1" : "0"} className="border-t border-slate-800 align-top font-mono text-xs">
      <td className="break-all py-1 pr-2">
        <a href={href} className="text-slate-200 hover:text-emerald-300 hover:underline">
          {c.symbol}
        </a>
      </td>
      <td className="py-1">
        {c.inConfig ? (
          <div className="flex flex-wrap gap-x-2">
            <span className="break-all text-emerald-300">= {shown(c.value)}</span>
            <span className="break-all text-slate-500">default {shown(c.default)}</span>
          </div>
        ) : (
          <span className="text-slate-500" data-absent>
            not in this config (default {shown(c.default)})
          </span>
        )}
        {!c.chosen && c.why && c.why.kind !== "default" && c.inConfig && <div className="font-sans text-slate-500">{reasonText(c.why)}</div>}
      </td>
    </tr>
  );
}

function SymbolTable({ label, rows, href }: { label: string; rows: Changed[]; href: (symbol: string) => string }) {
  return (
    <table className="w-full border-collapse text-left" aria-label={label}>
      <tbody>
        {rows.map((c) => (
          <SymbolRow key={c.symbol} c={c} href={href(c.symbol)} />
        ))}
      </tbody>
    </table>
  );
}

/**
 * What the user chose first: the symbols of the minimal form (as savedefconfig gives
 * them), then, folded, the other symbols that differ from the defaults because of
 * those choices. A symbol the config does not have at all reads "not in this config".
 * Every name links to its symbol page.
 */
export function ChosenSymbols({ changed, href, filter }: { changed: Changed[]; href: (symbol: string) => string; filter?: string }) {
  const needle = filter?.trim().toLowerCase();
  const match = (c: Changed) => !needle || c.symbol.toLowerCase().includes(needle) || c.value.toLowerCase().includes(needle);
  const chosen = changed.filter((c) => c.chosen);
  const derived = changed.filter((c) => !c.chosen);
  const n = chosen.length;
  return (
    <div className="space-y-2" data-chosen-symbols>
      <p className="text-sm text-slate-300" data-chosen-summary>
        {changed.length === 0
          ? "Every symbol is at the revision's default."
          : `You set ${n} option${n === 1 ? "" : "s"}; ${changed.length} symbol${changed.length === 1 ? "" : "s"} differ${changed.length === 1 ? "s" : ""} from the defaults.`}
      </p>
      {/* "Changed symbols" leads with the chosen ones; the derived rest is folded below */}
      {chosen.length > 0 && <SymbolTable label="Changed symbols" rows={chosen.filter(match)} href={href} />}
      {derived.length > 0 && (
        <details className="rounded border border-slate-800 px-2 py-1">
          <summary className="cursor-pointer text-xs text-slate-400">
            {derived.length} more follow{derived.length === 1 ? "s" : ""} from {n ? "these choices" : "the tree"} (selected, implied, hidden or defaults that changed)
          </summary>
          <SymbolTable label="Derived differences" rows={derived.filter(match)} href={href} />
        </details>
      )}
    </div>
  );
}
