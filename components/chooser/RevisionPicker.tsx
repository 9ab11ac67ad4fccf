"use client";

import { useEffect } from "react";
import type { Revision } from "../../contracts/api";
import { formatDate, shortSha } from "../ui/format";
import { input } from "../ui/styles";

function RefBadge({ r }: { r: string }) {
  const [kind, name] = r.includes(":") ? (r.split(":", 2) as [string, string]) : ["ref", r];
  const color = kind === "tag" ? "border-amber-700/60 text-amber-300" : kind === "branch" ? "border-sky-700/60 text-sky-300" : "border-slate-700 text-slate-300";
  return <span className={`rounded border px-1 font-mono text-[11px] ${color}`}>{name}</span>;
}

/**
 * Type-to-search over tags, branches, describe strings and sha prefixes (the server
 * filters with `q`). The input keeps focus; arrows move the active row, Enter picks it.
 */
export function RevisionPicker({ inputRef, ...props }: {
  projectName: string | undefined;
  query: string;
  onQuery(q: string): void;
  revisions: Revision[];
  loading: boolean;
  active: number;
  onActive(i: number): void;
  selected: string | undefined;
  onPick(r: Revision): void;
  onEscape(): boolean;
  inputRef?: React.Ref<HTMLInputElement>;
  emptyHint?: string;
}) {
  const { revisions, active } = props;
  const activeSha = revisions[active]?.sha;
  useEffect(() => {
    if (activeSha) document.getElementById(`rev-${activeSha}`)?.scrollIntoView({ block: "nearest" });
  }, [activeSha]);

  return (
    <div className="flex min-h-0 flex-col gap-2">
      <input
        ref={inputRef}
        type="search"
        role="combobox"
        aria-expanded="true"
        aria-controls="revision-list"
        aria-activedescendant={activeSha ? `rev-${activeSha}` : undefined}
        aria-label="Search revisions"
        placeholder={props.projectName ? `Search ${props.projectName}: tag, branch, describe or sha` : "Pick a project first"}
        className={input + " font-mono"}
        value={props.query}
        disabled={!props.projectName}
        onChange={(e) => props.onQuery(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === "ArrowDown") props.onActive(Math.min(revisions.length - 1, active + 1));
          else if (e.key === "ArrowUp") props.onActive(Math.max(0, active - 1));
          else if (e.key === "PageDown") props.onActive(Math.min(revisions.length - 1, active + 10));
          else if (e.key === "PageUp") props.onActive(Math.max(0, active - 10));
          else if (e.key === "Enter") {
            const r = revisions[active];
            if (r) props.onPick(r);
          } else if (e.key === "Escape") {
            if (props.query) props.onQuery("");
            else if (!props.onEscape()) return;
          } else return;
          e.preventDefault();
          e.stopPropagation();
        }}
      />
      <ul id="revision-list" role="listbox" aria-label="Revisions" className="min-h-40 flex-1 overflow-y-auto rounded-md border border-slate-800 p-1">
        {revisions.map((r, i) => {
          const isSel = r.sha === props.selected;
          const same = r.sameKconfigCount ?? 0;
          return (
            <li
              key={r.sha}
              id={`rev-${r.sha}`}
              role="option"
              aria-selected={isSel}
              onMouseMove={() => i !== active && props.onActive(i)}
              onClick={() => props.onPick(r)}
              className={`cursor-pointer rounded px-2.5 py-1.5 ${i === active ? "bg-slate-800" : ""} ${isSel ? "ring-1 ring-emerald-600" : ""}`}
            >
              <div className="flex flex-wrap items-center gap-x-2 gap-y-0.5">
                <span className="font-mono text-sm text-slate-100">{r.describe}</span>
                {r.refs.map((ref) => (
                  <RefBadge key={ref} r={ref} />
                ))}
                {isSel && <span className="ml-auto text-xs text-emerald-400">selected</span>}
              </div>
              <div className="flex flex-wrap gap-x-3 text-[11px] text-slate-500">
                <span className="font-mono">{shortSha(r.sha)}</span>
                <span>{formatDate(r.date)}</span>
                {same > 0 && (
                  <span title={`kconfig tree ${r.kconfigHash.slice(0, 12)}`}>
                    same options as {same} other revision{same === 1 ? "" : "s"}
                  </span>
                )}
              </div>
            </li>
          );
        })}
        {revisions.length === 0 && (
          <li className="px-2.5 py-6 text-center text-sm text-slate-500">{props.loading ? "Loading revisions…" : (props.emptyHint ?? "No revision matches.")}</li>
        )}
      </ul>
    </div>
  );
}
