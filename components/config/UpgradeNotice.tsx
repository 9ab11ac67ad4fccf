"use client";

import { useRouter } from "next/navigation";
import { useEffect, useState } from "react";
import { api, errorText } from "../api/client";
import type { Build, LatestRevision, UpgradedConfig } from "../../contracts/api";
import { apiPath, pagePath } from "../../contracts/urls";
import { ErrorNote } from "../ui/ErrorNote";
import { button, panel } from "../ui/styles";

/**
 * When the config's branch has moved on: which revision is newest, what upgrading to it
 * would change (olddefconfig on that revision, in a sandbox), "Upgrade" (a new config on
 * that revision) and "Rebuild on latest" (upgrade, then build).
 */
export function UpgradeNotice({ configId, project }: { configId: string; project: string }) {
  const router = useRouter();
  const [state, setState] = useState<LatestRevision>();
  const [busy, setBusy] = useState<"upgrade" | "rebuild">();
  const [error, setError] = useState<string>();
  useEffect(() => {
    const ctl = new AbortController();
    api<LatestRevision>(apiPath.configLatest(configId), { signal: ctl.signal }).then(setState, () => undefined);
    return () => ctl.abort();
  }, [configId]);
  if (!state?.latest) return null;
  const latest = state.latest;
  const act = async (what: "upgrade" | "rebuild") => {
    setBusy(what);
    setError(undefined);
    try {
      const up = await api<UpgradedConfig>(apiPath.configUpgrade(configId), { body: { rev: latest.commit } });
      if (what === "upgrade") router.push(pagePath.config(up.configId!, { against: configId }));
      else {
        const b = await api<Build>(apiPath.builds(), { body: { project, rev: latest.commit, configId: up.configId } });
        router.push(pagePath.build(b.id));
      }
    } catch (e) {
      setError(errorText(e));
      setBusy(undefined);
    }
  };
  const none = !state.new.length && !state.removed.length && !state.changed.length;
  return (
    <section className={panel + " border-sky-800 p-3 text-sm"} aria-labelledby="upgrade-heading">
      <div className="flex flex-wrap items-center gap-2">
        <h2 id="upgrade-heading" className="mr-auto font-semibold">
          A newer revision exists: {latest.branch} is at <span className="font-mono text-sky-300">{latest.describe}</span>
        </h2>
        <button type="button" className={button.primary} disabled={!!busy} onClick={() => void act("upgrade")}>
          {busy === "upgrade" ? "Upgrading…" : "Upgrade"}
        </button>
        <button type="button" className={button.secondary} disabled={!!busy} onClick={() => void act("rebuild")}>
          {busy === "rebuild" ? "Queueing…" : "Rebuild on latest"}
        </button>
      </div>
      {none ? (
        <p className="mt-1 text-xs text-slate-400">Upgrading changes no symbol of this config.</p>
      ) : (
        <ul className="mt-2 space-y-0.5 font-mono text-xs" aria-label="What the upgrade changes">
          {state.new.map((s) => (
            <li key={s.symbol} className="text-emerald-300">
              + {s.symbol}={s.value}
              {s.prompt && <span className="font-sans text-slate-400"> — new: {s.prompt}</span>}
            </li>
          ))}
          {state.removed.map((s) => (
            <li key={s.symbol} className="text-red-300">
              − {s.symbol}={s.value} <span className="font-sans text-slate-400">— removed</span>
            </li>
          ))}
          {state.changed.map((s) => (
            <li key={s.symbol} className="text-amber-300">
              ~ {s.symbol}: {s.from} → {s.to}
            </li>
          ))}
        </ul>
      )}
      {error && <ErrorNote>{error}</ErrorNote>}
    </section>
  );
}
