"use client";

import Link from "next/link";
import { useRouter } from "next/navigation";
import { useEffect, useState } from "react";
import type { PrinterView, UpgradedPrinter } from "../../contracts/api";
import { apiPath, pagePath } from "../../contracts/urls";
import { api, errorText } from "../api/client";
import { FlashGuide } from "../build/FlashGuide";
import { ErrorNote } from "../ui/ErrorNote";
import { button, panel } from "../ui/styles";

const running = (p: PrinterView) => p.parts.some((x) => x.lastBuild && ["queued", "running"].includes(x.lastBuild.state));

/**
 * A printer profile (/p/:id): every MCU with its config, last build and how to flash it;
 * "Build all" builds every part, "Upgrade all" brings every part to its branch's newest
 * revision as a new profile.
 */
export function PrinterProfile({ initial }: { initial: PrinterView }) {
  const router = useRouter();
  const [printer, setPrinter] = useState(initial);
  const [busy, setBusy] = useState<"build" | "upgrade">();
  const [error, setError] = useState<string>();
  const [notice, setNotice] = useState<string>();
  const reload = () => api<PrinterView>(apiPath.printer(printer.id)).then(setPrinter, (e: unknown) => setError(errorText(e)));
  const active = running(printer);
  useEffect(() => {
    if (!active) return;
    const t = setInterval(() => void api<PrinterView>(apiPath.printer(initial.id)).then(setPrinter, () => undefined), 1500);
    return () => clearInterval(t);
  }, [active, initial.id]);

  const buildAll = async () => {
    setBusy("build");
    setError(undefined);
    try {
      await api(apiPath.printerBuild(printer.id), { body: {} });
      await reload();
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(undefined);
    }
  };
  const upgradeAll = async () => {
    setBusy("upgrade");
    setError(undefined);
    try {
      const up = await api<UpgradedPrinter>(apiPath.printerUpgrade(printer.id), { body: {} });
      if (up.id === printer.id || up.parts.every((x) => x.from === x.to)) setNotice("Every part is already at its branch's newest revision.");
      router.push(pagePath.printer(up.id));
    } catch (e) {
      setError(errorText(e));
      setBusy(undefined);
    }
  };

  return (
    <main className="mx-auto flex max-w-6xl flex-col gap-4 px-3 py-5 sm:px-6">
      <div className="flex flex-wrap items-start justify-between gap-3">
        <div>
          <p className="text-xs uppercase tracking-wide text-slate-400">Printer profile</p>
          <h1 className="text-xl font-semibold">{printer.name}</h1>
          <p className="text-xs text-slate-400">
            {printer.project} · {printer.parts.length} part{printer.parts.length === 1 ? "" : "s"}
            {printer.upgradedFrom && (
              <>
                {" "}
                · upgraded from <Link className="underline" href={pagePath.printer(printer.upgradedFrom)}>{printer.upgradedFrom.slice(0, 12)}</Link>
              </>
            )}
          </p>
        </div>
        <div className="flex gap-2">
          <button type="button" className={button.primary} disabled={!!busy || active} onClick={() => void buildAll()}>
            {busy === "build" ? "Queueing…" : active ? "Building…" : "Build all"}
          </button>
          <button type="button" className={button.secondary} disabled={!!busy} onClick={() => void upgradeAll()}>
            {busy === "upgrade" ? "Upgrading…" : "Upgrade all"}
          </button>
        </div>
      </div>
      {error && <ErrorNote>{error}</ErrorNote>}
      {notice && <p role="status" className="text-sm text-slate-300">{notice}</p>}
      <div className="grid gap-4 md:grid-cols-2 xl:grid-cols-3">
        {printer.parts.map((part) => (
          <section key={part.role} className={panel + " flex flex-col gap-2 p-3 text-sm"} aria-label={`Part ${part.role}`}>
            <h2 className="font-semibold">{part.role}</h2>
            <p className="text-xs text-slate-400">
              config{" "}
              <Link className="font-mono text-emerald-300 hover:underline" href={pagePath.config(part.configId)}>
                {part.configId.slice(0, 12)}
              </Link>{" "}
              @ <span className="font-mono">{part.describe}</span>
            </p>
            {part.board && (
              <p className="text-xs text-slate-400">
                board file <span className="font-mono text-slate-200">{part.board.file}</span>
              </p>
            )}
            <p className="text-xs" data-part-build={part.lastBuild?.state ?? "none"}>
              {part.lastBuild ? (
                <>
                  last build{" "}
                  <Link className="font-mono text-emerald-300 hover:underline" href={pagePath.build(part.lastBuild.id)}>
                    {part.lastBuild.id.slice(0, 12)}
                  </Link>{" "}
                  {part.lastBuild.state}
                </>
              ) : (
                <span className="text-slate-500">not built from this profile yet</span>
              )}
            </p>
            {part.lastBuild?.state === "succeeded" && <FlashGuide buildId={part.lastBuild.id} />}
          </section>
        ))}
      </div>
    </main>
  );
}
