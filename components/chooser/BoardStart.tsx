"use client";

import { useEffect, useRef, useState } from "react";
import { api, errorText } from "../api/client";
import type { PresetSummary } from "../../contracts/api";
import { apiPath } from "../../contracts/urls";
import { ErrorNote } from "../ui/ErrorNote";
import { button, input } from "../ui/styles";

/** A board picked in the chooser, with the answers given to its questions. */
export interface ChosenBoard {
  preset: PresetSummary;
  answers: Record<string, string>;
}

function usePresets(project: string, rev: string | undefined, query: string, open: boolean) {
  const [state, setState] = useState<{ key: string; presets: PresetSummary[]; error?: string }>({ key: "", presets: [] });
  const key = `${project}\n${rev}\n${query}`;
  useEffect(() => {
    if (!rev || !open) return;
    const ctl = new AbortController();
    const t = setTimeout(() => {
      api<PresetSummary[]>(apiPath.presets(project, rev, { limit: 50, q: query.trim() }), { signal: ctl.signal })
        .then((presets) => setState({ key, presets }))
        .catch((e: unknown) => {
          if ((e as Error).name !== "AbortError") setState({ key, presets: [], error: errorText(e) });
        });
    }, 120);
    return () => {
      clearTimeout(t);
      ctl.abort();
    };
  }, [project, rev, query, open, key]);
  const current = state.key === key;
  return { presets: current ? state.presets : [], loading: !current, error: current ? state.error : undefined };
}

function Badge({ p }: { p: PresetSummary }) {
  return p.complete ? (
    <span className="rounded border border-emerald-700/60 px-1 text-[11px] text-emerald-300">complete</span>
  ) : (
    <span className="rounded border border-amber-700/60 px-1 text-[11px] text-amber-300">
      {p.questions.length} open question{p.questions.length === 1 ? "" : "s"}
    </span>
  );
}

/**
 * "Start from a board…" for projects whose recipe has board presets (Klipper, Kalico):
 * type to search the revision's own board files, pick one, answer what its header
 * leaves open. The session then starts from the preset's config.
 */
export function BoardStart(props: { project: string; rev: string | undefined; board: ChosenBoard | undefined; onBoard(b: ChosenBoard | undefined): void; disabledReason?: string }) {
  const [open, setOpen] = useState(false);
  const [query, setQuery] = useState("");
  const [active, setActive] = useState(0);
  const searchRef = useRef<HTMLInputElement>(null);
  const { presets, loading, error } = usePresets(props.project, props.rev, query, open);
  const activeId = presets[active]?.id;
  useEffect(() => {
    if (activeId) document.getElementById(`preset-${activeId}`)?.scrollIntoView({ block: "nearest" });
  }, [activeId]);

  const pick = (p: PresetSummary) => {
    props.onBoard({ preset: p, answers: {} });
    setOpen(false);
  };

  if (props.disabledReason && !props.board) {
    return (
      <button type="button" className={button.secondary + " self-start"} disabled title={props.disabledReason}>
        Start from a board…
      </button>
    );
  }

  if (props.board) {
    const { preset, answers } = props.board;
    return (
      <section aria-label="Board preset" className="flex flex-col gap-2 rounded-md border border-slate-800 p-2 text-sm">
        <div className="flex flex-wrap items-center gap-2">
          <span className="text-slate-400">Board:</span>
          <span className="font-medium text-slate-100">{preset.title}</span>
          {preset.mcu && <span className="font-mono text-xs text-slate-300">{preset.mcu}</span>}
          <span className="font-mono text-xs text-slate-500">{preset.file}</span>
          <Badge p={preset} />
          <span className="ml-auto flex gap-1">
            <button type="button" className={button.ghost} onClick={() => { setOpen(true); props.onBoard(undefined); setTimeout(() => searchRef.current?.focus(), 0); }}>
              Change
            </button>
            <button type="button" className={button.ghost} aria-label="Do not start from a board" onClick={() => props.onBoard(undefined)}>
              ✕
            </button>
          </span>
        </div>
        {preset.questions.map((q) => (
          <label key={q.id} className="flex flex-col gap-1 text-slate-300">
            <span>{q.text}</span>
            {q.options.length > 0 ? (
              <select
                aria-label={q.text}
                className="rounded-md border border-slate-700 bg-slate-950 px-2 py-1 font-mono text-sm"
                value={answers[q.id] ?? ""}
                onChange={(e) => {
                  const next = { ...answers };
                  if (e.target.value) next[q.id] = e.target.value;
                  else delete next[q.id];
                  props.onBoard({ preset, answers: next });
                }}
              >
                <option value="">leave open (set it in menuconfig)</option>
                {q.options.map((o) => (
                  <option key={o.symbol} value={o.symbol}>
                    {o.label} ({o.symbol})
                  </option>
                ))}
              </select>
            ) : (
              <span className="text-xs text-slate-500">Open: set it in menuconfig; the side panel keeps the header at hand.</span>
            )}
          </label>
        ))}
      </section>
    );
  }

  if (!open) {
    return (
      <button
        type="button"
        className={button.secondary + " self-start"}
        disabled={!props.rev}
        title={props.rev ? undefined : "Pick a revision first: the boards come from its config/ files."}
        onClick={() => {
          setOpen(true);
          setTimeout(() => searchRef.current?.focus(), 0);
        }}
      >
        Start from a board…
      </button>
    );
  }

  return (
    <section aria-label="Start from a board" className="flex flex-col gap-2">
      <input
        ref={searchRef}
        type="search"
        role="combobox"
        aria-expanded="true"
        aria-controls="preset-list"
        aria-activedescendant={activeId ? `preset-${activeId}` : undefined}
        aria-label="Search boards"
        placeholder="Search boards: name or micro-controller (skr mini e3, stm32f401)"
        className={input}
        value={query}
        onChange={(e) => {
          setQuery(e.target.value);
          setActive(0);
        }}
        onKeyDown={(e) => {
          if (e.key === "ArrowDown") setActive(Math.min(presets.length - 1, active + 1));
          else if (e.key === "ArrowUp") setActive(Math.max(0, active - 1));
          else if (e.key === "Enter") {
            const p = presets[active];
            if (p) pick(p);
          } else if (e.key === "Escape") {
            if (query) setQuery("");
            else setOpen(false);
          } else return;
          e.preventDefault();
          e.stopPropagation();
        }}
      />
      {error && <ErrorNote title="Boards could not be loaded">{error}</ErrorNote>}
      <ul id="preset-list" role="listbox" aria-label="Boards" className="max-h-56 overflow-y-auto rounded-md border border-slate-800 p-1">
        {presets.map((p, i) => (
          <li
            key={p.id}
            id={`preset-${p.id}`}
            role="option"
            aria-selected={i === active}
            onMouseMove={() => i !== active && setActive(i)}
            onClick={() => pick(p)}
            className={`flex cursor-pointer flex-wrap items-center gap-x-2 rounded px-2.5 py-1.5 ${i === active ? "bg-slate-800" : ""}`}
          >
            <span className="text-sm text-slate-100">{p.title}</span>
            {p.mcu && <span className="font-mono text-xs text-slate-300">{p.mcu}</span>}
            <Badge p={p} />
            <span className="ml-auto font-mono text-[11px] text-slate-500">{p.file}</span>
          </li>
        ))}
        {presets.length === 0 && !error && <li className="px-2.5 py-4 text-center text-sm text-slate-500">{loading ? "Reading the board files…" : "No board matches."}</li>}
      </ul>
    </section>
  );
}
