"use client";

import { useEffect, useState } from "react";
import { api, errorText } from "../api/client";
import type { PresetOrigin } from "../../contracts/api";
import { apiPath } from "../../contracts/urls";

/**
 * For a session started from a board preset: which board file it came from, what its
 * header says (in full), and what the header left open, so the user settles it in
 * menuconfig with the instructions beside it.
 */
export function PresetPanel({ configId }: { configId: string }) {
  const [origin, setOrigin] = useState<{ id: string; origin?: PresetOrigin; error?: string }>();
  useEffect(() => {
    const ctl = new AbortController();
    api<PresetOrigin>(apiPath.configPreset(configId), { signal: ctl.signal })
      .then((o) => setOrigin({ id: configId, origin: o }))
      .catch((e: unknown) => {
        if ((e as Error).name !== "AbortError") setOrigin({ id: configId, error: errorText(e) });
      });
    return () => ctl.abort();
  }, [configId]);
  if (!origin || origin.id !== configId) return null;
  if (origin.error || !origin.origin) return <p className="text-xs text-slate-500">The board preset could not be loaded: {origin.error}</p>;
  const o = origin.origin;
  return (
    <section aria-label="Board preset" className="flex flex-col gap-2 rounded-md border border-slate-800 bg-slate-950/60 p-2 text-xs">
      <div>
        <div className="text-slate-400">Started from the board file</div>
        <div className="font-mono text-slate-100">{o.file}</div>
        <div className="text-slate-300">{o.title}</div>
      </div>
      {o.questions.length > 0 ? (
        <div>
          <div className="font-semibold text-amber-300">Open question{o.questions.length === 1 ? "" : "s"}: set in menuconfig</div>
          <ul className="list-disc space-y-1 pl-4 text-amber-200">
            {o.questions.map((q) => (
              <li key={q.id}>
                {q.text}
                {q.options.length > 0 && <span className="text-slate-400"> ({q.options.map((x) => x.label).join(" / ")})</span>}
              </li>
            ))}
          </ul>
        </div>
      ) : (
        <div className="text-emerald-300">Every instruction in the header was matched to this revision&apos;s menu.</div>
      )}
      {o.offers.length > 0 && (
        <div>
          <div className="text-slate-400">The header also offers (not applied):</div>
          <ul className="list-disc pl-4 text-slate-300">
            {o.offers.map((x) => (
              <li key={x.text}>{x.text}</li>
            ))}
          </ul>
        </div>
      )}
      <details open>
        <summary className="cursor-pointer text-slate-400">Header of {o.file.split("/").pop()}</summary>
        <pre aria-label="Board file header" className="mt-1 max-h-64 overflow-auto whitespace-pre-wrap break-words font-mono text-[11px] text-slate-300">
          {o.header}
        </pre>
      </details>
    </section>
  );
}
