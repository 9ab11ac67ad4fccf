"use client";

import { useMemo, useState } from "react";
import type { ChangedSymbol } from "../../contracts/api";
import { input } from "../ui/styles";

/** The symbols that differ from the revision's defaults, filterable by name or value (`filter`/`onFilter` when the parent keeps the filter). */
export function ChangedSymbolsList(props: { changed: ChangedSymbol[] | undefined; emptyText: string; filter?: string; onFilter?: (q: string) => void }) {
  const [own, setOwn] = useState("");
  const q = props.filter ?? own;
  const setQ = props.onFilter ?? setOwn;
  const shown = useMemo(() => {
    const needle = q.trim().toLowerCase();
    const all = props.changed ?? [];
    return needle ? all.filter((c) => c.symbol.toLowerCase().includes(needle) || c.value.toLowerCase().includes(needle)) : all;
  }, [props.changed, q]);
  return (
    <div className="flex min-h-0 flex-1 flex-col gap-2">
      <input type="search" aria-label="Filter changed symbols" placeholder="Filter symbols…" className={input + " font-mono"} value={q} onChange={(e) => setQ(e.target.value)} />
      <ul aria-label="Changed symbols" className="min-h-0 flex-1 space-y-1 overflow-y-auto">
        {shown.map((c) => (
          <li key={c.symbol} data-symbol={c.symbol} className="rounded border border-slate-800 bg-slate-950/60 px-2 py-1 font-mono text-xs">
            <div className="break-all text-slate-200">{c.symbol}</div>
            <div className="flex flex-wrap gap-x-2">
              <span className="text-emerald-300">= {c.value}</span>
              <span className="text-slate-500">default {c.default ?? "unset"}</span>
            </div>
          </li>
        ))}
        {props.changed && shown.length === 0 && <li className="py-4 text-center text-xs text-slate-500">{q ? "No changed symbol matches." : props.emptyText}</li>}
      </ul>
    </div>
  );
}
