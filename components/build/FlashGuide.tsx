"use client";

import { useEffect, useState } from "react";
import type { FlashGuidance } from "../../contracts/api";
import { apiPath } from "../../contracts/urls";
import { api } from "../api/client";
import { CopyButton } from "../ui/CopyButton";
import { button, panel } from "../ui/styles";

/**
 * "How to flash" for a succeeded build: the board file's own lines when the config came
 * from a board preset, else the recipe's guidance for this architecture with the config's
 * values filled in; downloads are named as the board expects.
 */
export function FlashGuide({ buildId }: { buildId: string }) {
  const [g, setG] = useState<FlashGuidance>();
  useEffect(() => {
    const ctl = new AbortController();
    api<FlashGuidance>(apiPath.buildFlash(buildId), { signal: ctl.signal }).then(setG, () => undefined);
    return () => ctl.abort();
  }, [buildId]);
  if (!g || g.source === "none") return null;
  return (
    <section className={panel + " p-3 text-xs"} aria-labelledby="flash-heading">
      <h2 id="flash-heading" className="mb-1 text-sm font-semibold">
        How to flash
      </h2>
      {g.board && (
        <p className="mb-1 text-slate-400">
          {g.source === "board" ? "From the board file " : "Board file "}
          <span className="font-mono text-slate-200">{g.board.file}</span>
          {g.source === "board" ? ":" : " (it says nothing about flashing; by architecture and config):"}
        </p>
      )}
      <div className="space-y-1 text-slate-300" data-flash-source={g.source}>
        {g.text.map((t) => (
          <p key={t}>{t}</p>
        ))}
      </div>
      {g.commands.length > 0 && (
        <ul className="mt-2 space-y-1">
          {g.commands.map((c) => (
            <li key={c} className="flex items-center gap-1">
              <code className="min-w-0 flex-1 break-all rounded bg-slate-950 px-2 py-1 font-mono text-[11px] text-slate-200">{c}</code>
              <CopyButton text={c} label="Copy" />
            </li>
          ))}
        </ul>
      )}
      {g.downloads.map((d) => (
        <a key={d.artifact} href={d.url} download={d.saveAs} className={button.primary + " mt-2"}>
          Download {d.saveAs}
          {d.saveAs !== d.artifact && <span className="font-normal opacity-80"> ({d.artifact})</span>}
        </a>
      ))}
    </section>
  );
}
