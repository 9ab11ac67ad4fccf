"use client";

import { useEffect, useState } from "react";
import { api, errorText } from "../api/client";
import { ErrorNote } from "../ui/ErrorNote";
import { input } from "../ui/styles";
import { SymbolDetails } from "./SymbolDetails";
import type { SymbolHit, SymbolLookup, SymbolSearchResult } from "../../contracts/symbols";
import { apiPath, pagePath } from "../../contracts/urls";

/** One symbol's card, fetched (with its value in `configId` when there is one); dependency links open their own card. */
export function SymbolCard(props: { project: string; rev: string; name: string; configId?: string; arch?: string; onSymbol: (name: string) => void }) {
  const url = apiPath.symbol(props.project, props.rev, props.name, { config: props.configId, arch: props.arch });
  // keyed by the request, so a card never shows another symbol's answer
  const [result, setResult] = useState<{ url: string; entry?: SymbolLookup; error?: string }>();
  useEffect(() => {
    const ctl = new AbortController();
    api<SymbolLookup>(url, { signal: ctl.signal })
      .then((entry) => setResult({ url, entry }))
      .catch((e: unknown) => {
        if ((e as Error).name !== "AbortError") setResult({ url, error: errorText(e) });
      });
    return () => ctl.abort();
  }, [url]);
  const current = result?.url === url ? result : undefined;
  if (current?.error) return <ErrorNote>{current.error}</ErrorNote>;
  const entry = current?.entry;
  if (!entry) return <p className="text-xs text-slate-500">Loading {props.name}…</p>;
  return (
    <div className="space-y-1">
      <SymbolDetails
        entry={entry}
        project={props.project}
        rev={props.rev}
        link={(name) => ({
          href: pagePath.symbol(props.project, props.rev, name),
          onClick: (e) => {
            if (e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) return;
            e.preventDefault();
            props.onSymbol(name);
          },
        })}
      />
      <a className="text-xs text-slate-400 underline" href={pagePath.symbol(props.project, props.rev, entry.name)} target="_blank" rel="noopener">
        open the symbol page (history, deep link)
      </a>
    </div>
  );
}

/**
 * Symbol search for the session's side panel: names and prompts of the session's
 * revision, prefix matches first; picking one shows its card with its value in the
 * session's latest save.
 */
export function SymbolSearch(props: { project?: string; rev?: string; configId?: string; arch?: string }) {
  const [q, setQ] = useState("");
  const [result, setResult] = useState<{ url: string; hits?: SymbolHit[]; error?: string }>();
  const [selected, setSelected] = useState<string>();
  const { project, rev, arch } = props;
  const url = project && rev && q.trim() ? apiPath.symbols(project, rev, { q: q.trim(), limit: 30, arch }) : undefined;

  useEffect(() => {
    if (!url) return;
    const ctl = new AbortController();
    const t = setTimeout(() => {
      api<SymbolSearchResult>(url, { signal: ctl.signal })
        .then((r) => setResult({ url, hits: r.symbols }))
        .catch((e: unknown) => {
          if ((e as Error).name !== "AbortError") setResult({ url, error: errorText(e) });
        });
    }, 150);
    return () => {
      clearTimeout(t);
      ctl.abort();
    };
  }, [url]);
  const current = url && result?.url === url ? result : undefined;
  const hits = current?.hits;
  const error = current?.error;

  if (!project || !rev) return null;
  return (
    <section aria-label="Symbol search" className="flex flex-col gap-2">
      <input
        type="search"
        aria-label="Search symbols"
        placeholder="Search symbols by name or prompt…"
        className={input + " font-mono"}
        value={q}
        onChange={(e) => {
          setQ(e.target.value);
          setSelected(undefined);
        }}
      />
      {error && <ErrorNote>{error}</ErrorNote>}
      {selected ? (
        <div className="max-h-[28rem] overflow-y-auto rounded border border-slate-800 bg-slate-950/60 p-2">
          <button type="button" className="mb-1 text-xs text-slate-400 underline" onClick={() => setSelected(undefined)}>
            ← back to the results
          </button>
          <SymbolCard project={project} rev={rev} name={selected} configId={props.configId} arch={arch} onSymbol={setSelected} />
        </div>
      ) : (
        hits && (
          <ul aria-label="Symbol results" className="max-h-56 space-y-0.5 overflow-y-auto">
            {hits.map((h) => (
              <li key={h.name}>
                <button type="button" className="w-full rounded px-2 py-0.5 text-left font-mono text-xs hover:bg-slate-800" onClick={() => setSelected(h.name)} data-symbol-hit={h.name}>
                  <span className="text-slate-200">{h.name}</span>
                  {h.prompt && <span className="ml-2 font-sans text-slate-500">{h.prompt}</span>}
                </button>
              </li>
            ))}
            {hits.length === 0 && <li className="py-2 text-center text-xs text-slate-500">No symbol matches.</li>}
          </ul>
        )
      )}
    </section>
  );
}
