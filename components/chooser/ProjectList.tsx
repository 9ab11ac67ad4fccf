"use client";

import type { ProjectSummary } from "../../contracts/api";
import { button } from "../ui/styles";

function SyncLine({ p }: { p: ProjectSummary }) {
  const s = p.sync;
  if (!s || s.state === "ok") return null;
  if (s.state === "syncing") {
    const pr = s.progress;
    const pct = pr && pr.total > 0 ? Math.round((100 * pr.done) / pr.total) : undefined;
    return (
      <div className="mt-1">
        <div className="flex justify-between text-[11px] text-sky-300">
          <span>syncing{pr ? ` · ${pr.phase}` : ""}</span>
          {pr && <span>{pr.total > 0 ? `${pr.done}/${pr.total}` : pr.done}</span>}
        </div>
        <div className="mt-0.5 h-1 overflow-hidden rounded bg-slate-800" role="progressbar" aria-valuenow={pct} aria-valuemin={0} aria-valuemax={100} aria-label={`sync of ${p.name}`}>
          <div className={`h-full bg-sky-500 ${pct === undefined ? "w-1/3 animate-pulse" : ""}`} style={pct === undefined ? undefined : { width: `${pct}%` }} />
        </div>
      </div>
    );
  }
  return <div className="mt-1 line-clamp-2 text-[11px] text-amber-300">{s.state === "never" ? "not synced yet" : (s.message ?? "sync failed")}</div>;
}

/** For the selected project when its sync failed or never ran: what happened, and a way to retry. */
export function SyncNotice({ p, onSync }: { p: ProjectSummary; onSync(): void }) {
  const s = p.sync;
  if (!s || (s.state !== "failed" && s.state !== "never")) return null;
  return (
    <div className="flex flex-wrap items-center gap-2 rounded-md border border-amber-900/60 bg-amber-950/30 px-2.5 py-1.5 text-xs text-amber-200">
      <span className="min-w-0 flex-1 break-words">
        {s.state === "never" ? `${p.name} has not been synced yet.` : `The last sync of ${p.name} failed: ${s.message ?? "no reason given"}.`}
        {p.revisions > 0 ? " The revisions it already has can be used." : ""}
      </span>
      <button type="button" className={button.secondary + " !py-0.5 text-xs"} onClick={onSync}>
        Sync now
      </button>
    </div>
  );
}

/** The project listbox: arrows move (and select), Enter goes on to the revisions. */
export function ProjectList({ listRef, ...props }: {
  projects: ProjectSummary[];
  selected: string | undefined;
  onSelect(id: string): void;
  onCommit(): void;
  listRef?: React.Ref<HTMLUListElement>;
}) {
  const { projects, selected } = props;
  const index = projects.findIndex((p) => p.id === selected);
  const move = (delta: number) => {
    if (projects.length === 0) return;
    const next = index < 0 ? 0 : Math.min(projects.length - 1, Math.max(0, index + delta));
    props.onSelect(projects[next]!.id);
  };
  return (
    <ul
      ref={listRef}
      role="listbox"
      tabIndex={0}
      aria-label="Projects"
      aria-activedescendant={selected ? `project-${selected}` : undefined}
      className="max-h-72 overflow-y-auto rounded-md border border-slate-800 p-1 outline-none focus-visible:border-emerald-600 md:max-h-none"
      onKeyDown={(e) => {
        if (e.key === "ArrowDown") move(1);
        else if (e.key === "ArrowUp") move(-1);
        else if (e.key === "Home") move(-projects.length);
        else if (e.key === "End") move(projects.length);
        else if (e.key === "Enter" || e.key === "ArrowRight") {
          if (index < 0 && projects[0]) props.onSelect(projects[0].id);
          props.onCommit();
        } else return;
        e.preventDefault();
      }}
    >
      {projects.map((p) => {
        const isSel = p.id === selected;
        return (
          <li
            key={p.id}
            id={`project-${p.id}`}
            role="option"
            aria-selected={isSel}
            onClick={() => {
              props.onSelect(p.id);
              props.onCommit();
            }}
            className={`cursor-pointer rounded px-2.5 py-2 ${isSel ? "bg-emerald-900/40 ring-1 ring-emerald-700" : "hover:bg-slate-800/70"}`}
          >
            <div className="flex items-baseline justify-between gap-2">
              <span className="truncate font-medium">{p.name}</span>
              <span className="shrink-0 text-xs text-slate-400">
                {p.revisions} rev{p.revisions === 1 ? "" : "s"}
              </span>
            </div>
            <div className="font-mono text-[11px] text-slate-500">
              {p.id} · {p.recipe}
            </div>
            <SyncLine p={p} />
          </li>
        );
      })}
    </ul>
  );
}
