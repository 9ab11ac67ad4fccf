"use client";

import { useEffect, useState } from "react";
import type { KernelArches } from "../../contracts/api";
import { apiPath } from "../../contracts/urls";
import { api } from "../api/client";
import { input } from "../ui/styles";

/**
 * For recipes with an ARCH choice (Linux): the architecture, from the arches the chosen
 * revision's tree has, and an optional starting point the tree's own Makefile makes
 * (defconfig, tinyconfig or a <name>_defconfig), as a maintainer starts in a checkout.
 */
export function KernelStart(props: {
  project: string;
  rev: string | undefined;
  fallbackArches: string[];
  arch: string | undefined;
  onArch(arch: string): void;
  start: string;
  onStart(start: string): void;
  disabledReason?: string;
}) {
  const [found, setFound] = useState<{ key: string; arches: string[] }>();
  const key = `${props.project}\n${props.rev}`;
  useEffect(() => {
    if (!props.rev) return;
    const ctl = new AbortController();
    api<KernelArches>(apiPath.kernelArches({ project: props.project, rev: props.rev }), { signal: ctl.signal })
      .then((r) => setFound({ key, arches: r.arches }))
      .catch(() => undefined);
    return () => ctl.abort();
  }, [props.project, props.rev, key]);
  const arches = found?.key === key && found.arches.length ? found.arches : props.fallbackArches;
  const arch = props.arch && arches.includes(props.arch) ? props.arch : arches[0];
  return (
    <div className="mr-auto flex flex-wrap items-center gap-3 text-sm text-slate-300">
      <label className="flex items-center gap-2 whitespace-nowrap">
        Architecture
        <select className="rounded-md border border-slate-700 bg-slate-950 px-2 py-1 font-mono text-sm" value={arch} onChange={(e) => props.onArch(e.target.value)}>
          {arches.map((a) => (
            <option key={a}>{a}</option>
          ))}
        </select>
      </label>
      <label className="flex items-center gap-2 whitespace-nowrap" title={props.disabledReason}>
        Start from
        <input
          list="kernel-starts"
          className={input + " w-48 font-mono"}
          placeholder="empty config"
          value={props.start}
          disabled={!!props.disabledReason}
          onChange={(e) => props.onStart(e.target.value.trim())}
        />
        <datalist id="kernel-starts">
          <option value="defconfig" />
          <option value="tinyconfig" />
          {arch && <option value={`${arch}_defconfig`} />}
        </datalist>
      </label>
    </div>
  );
}
