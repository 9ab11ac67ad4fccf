"use client";

import Link from "next/link";
import { useRouter } from "next/navigation";
import { useEffect, useState, useSyncExternalStore } from "react";
import { api, errorText } from "../api/client";
import type { Build } from "../../contracts/api";
import { finishedBuildStates, type BuildState } from "../../contracts/build-states";
import { apiPath, pagePath } from "../../contracts/urls";
import { CopyButton } from "../ui/CopyButton";
import { RunsCodeWarning } from "../config/RunsCodeWarning";
import { ErrorNote } from "../ui/ErrorNote";
import { formatBytes, formatDate, formatDuration, shortSha } from "../ui/format";
import { button, panel } from "../ui/styles";
import { BuildLog, useBuildLog } from "./BuildLog";
import { BuildTimeline, stepsFromLog, stepsFromTimings } from "./BuildTimeline";
import { ReproducibleBadge } from "./ReproducibleBadge";
import { FlashGuide } from "./FlashGuide";

const stateLook: Record<BuildState, { label: string; cls: string }> = {
  queued: { label: "queued", cls: "border-slate-600 text-slate-300" },
  running: { label: "running", cls: "border-sky-600 text-sky-300" },
  succeeded: { label: "succeeded", cls: "border-emerald-600 text-emerald-300" },
  failed: { label: "failed", cls: "border-red-600 text-red-300" },
  timed_out: { label: "timed out", cls: "border-red-600 text-red-300" },
  cancelled: { label: "cancelled", cls: "border-slate-600 text-slate-400" },
};

function etaText(eta: Build["eta"]): string | undefined {
  if (eta === null || eta === undefined) return undefined;
  if (typeof eta === "number") return `about ${formatDuration(eta * 1000)}`;
  return formatDate(eta);
}

/** The server's summary is a head line then the log's last lines; the line to point at is the first error among them. */
function summaryParts(summary: string | null | undefined): { head: string; line?: string } {
  const lines = (summary ?? "").split("\n").filter((l) => l.trim());
  const head = lines[0] ?? "See the log below for the first error.";
  const tail = lines.slice(1);
  return { head, line: tail.find((l) => /\berror\b|fatal|failed|not found/i.test(l)) ?? tail[tail.length - 1] };
}

/** Re-reads the build while it is not finished, or while its verification runs. */
function useBuild(initial: Build): { build: Build; error?: string; setBuild: (b: Build) => void } {
  const [build, setBuild] = useState(initial);
  const [error, setError] = useState<string>();
  const finished = finishedBuildStates.includes(build.state) && build.verification?.state !== "running";
  useEffect(() => {
    if (finished) return;
    const t = setInterval(() => {
      api<Build>(apiPath.build(initial.id))
        .then((b) => {
          setBuild(b);
          setError(undefined);
        })
        .catch((e: unknown) => setError(errorText(e)));
    }, 1500);
    return () => clearInterval(t);
  }, [finished, initial.id]);
  return { build, error, setBuild };
}

const noSubscribe = () => () => {};

/** The clock, ticking each second while `running` (for "running for 1m 05s"). */
function useNow(running: boolean): number | undefined {
  const [now, setNow] = useState<number>();
  useEffect(() => {
    if (!running) return;
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, [running]);
  return running ? now : undefined;
}

/** Full when finished; while running, elapsed against the server's estimate (mean of past builds) when it has one. */
function Progress({ build, elapsedMs }: { build: Build; elapsedMs?: number }) {
  const finished = finishedBuildStates.includes(build.state);
  const eta = typeof build.eta === "number" ? build.eta * 1000 : undefined;
  const pct = finished ? 100 : build.state === "running" && eta !== undefined && elapsedMs !== undefined ? Math.min(97, Math.round((100 * elapsedMs) / (elapsedMs + eta))) : undefined;
  const bar = build.state === "succeeded" ? "bg-emerald-500" : finished ? "bg-red-500" : "bg-sky-500";
  return (
    <div className="h-1.5 overflow-hidden rounded bg-slate-800" role="progressbar" aria-label="Build progress" aria-valuemin={0} aria-valuemax={100} aria-valuenow={pct}>
      {pct === undefined ? (
        <div className={`h-full w-1/4 ${build.state === "queued" ? "bg-slate-500" : bar} animate-[kbs-indeterminate_1.4s_ease-in-out_infinite]`} />
      ) : (
        <div className={`h-full ${bar} transition-[width]`} style={{ width: `${Math.max(pct, 3)}%` }} />
      )}
    </div>
  );
}

export function BuildView(props: { initial: Build }) {
  const router = useRouter();
  const { build, error, setBuild } = useBuild(props.initial);
  const finished = finishedBuildStates.includes(build.state);
  const log = useBuildLog(build.id, finished);
  const origin = useSyncExternalStore(
    noSubscribe,
    () => window.location.origin,
    () => "",
  );
  const [actionError, setActionError] = useState<string>();
  const [actionNotice, setActionNotice] = useState<string>();
  const [rebuilding, setRebuilding] = useState(false);
  const manifestMs = (build.manifest as { durationMs?: unknown } | null | undefined)?.durationMs;
  const totalMs = typeof manifestMs === "number" ? manifestMs : build.startedAt && build.finishedAt ? Date.parse(build.finishedAt) - Date.parse(build.startedAt) : undefined;
  const timings = (build.manifest as { timings?: unknown } | null | undefined)?.timings;
  const steps = Array.isArray(timings) ? stepsFromTimings(timings as Array<{ step: string; ms: number }>, log.text) : stepsFromLog(log.text, build.state, build.failedStep, totalMs);
  const failure = summaryParts(build.errorSummary);
  const look = stateLook[build.state];
  const now = useNow(!finished);
  const duration = build.startedAt && (build.finishedAt || now) ? (build.finishedAt ? Date.parse(build.finishedAt) : now!) - Date.parse(build.startedAt) : undefined;

  // The page behind a share link keeps its build: retention does not remove a build someone looked at.
  const pin = build.state === "succeeded" && build.pinned === false;
  useEffect(() => {
    if (pin) void api(apiPath.buildPin(build.id), { method: "POST", body: {} }).catch(() => undefined);
  }, [pin, build.id]);

  const [verifying, setVerifying] = useState(false);
  const verify = async () => {
    setVerifying(true);
    setActionError(undefined);
    try {
      setBuild(await api<Build>(apiPath.buildVerify(build.id), { method: "POST", body: {} }));
    } catch (e) {
      setActionError(errorText(e));
    } finally {
      setVerifying(false);
    }
  };

  const rebuild = async () => {
    setRebuilding(true);
    setActionError(undefined);
    setActionNotice(undefined);
    try {
      const b = await api<Build>(apiPath.builds(), { body: { project: build.project, rev: build.rev, configId: build.configId } });
      if (b.id === build.id) setActionNotice("This exact build (same commit, config, recipe and build image) already exists, so kbs reuses it instead of building again.");
      else router.push(pagePath.build(b.id));
    } catch (e) {
      setActionError(errorText(e));
    } finally {
      setRebuilding(false);
    }
  };

  return (
    <main className="mx-auto flex max-w-6xl flex-col gap-4 px-3 py-5 sm:px-6">
      <div className="flex flex-wrap items-start justify-between gap-3">
        <div className="min-w-0">
          <p className="text-xs uppercase tracking-wide text-slate-400">Build {build.id.slice(0, 12)}</p>
          <h1 className="flex flex-wrap items-center gap-2 text-xl font-semibold">
            {build.project} <span className="font-mono text-emerald-300">@ {build.describe ?? shortSha(build.rev)}</span>
            <span className={`rounded-full border px-2 py-0.5 text-xs font-medium ${look.cls}`} data-build-state={build.state} role="status" aria-live="polite">
              {look.label}
            </span>
            {build.cached && <span className="rounded-full border border-slate-700 px-2 py-0.5 text-xs text-slate-400">from cache</span>}
            <ReproducibleBadge verification={build.verification} />
          </h1>
          <p className="mt-1 text-xs text-slate-400">
            {build.state === "queued" && (
              <>
                {build.queuePosition != null ? `position ${build.queuePosition} in the queue` : "waiting for a worker"}
                {etaText(build.eta) && ` · starts in ${etaText(build.eta)}`}
              </>
            )}
            {build.startedAt && <>started {formatDate(build.startedAt)}</>}
            {duration !== undefined && Number.isFinite(duration) && <> · {finished ? "took" : "running for"} {formatDuration(duration)}</>}
          </p>
        </div>
        <div className="flex flex-wrap gap-2">
          <Link className={button.secondary} href={pagePath.config(build.configId)}>
            Open config
          </Link>
          {build.state === "succeeded" && !build.expired && (
            <button
              type="button"
              className={button.secondary}
              disabled={verifying || build.verification?.state === "running"}
              title="Rebuild on a fresh work tree without ccache and compare every artifact byte for byte"
              onClick={() => void verify()}
            >
              {verifying || build.verification?.state === "running" ? "Verifying…" : "Verify"}
            </button>
          )}
          <button type="button" className={button.secondary} disabled={!finished || rebuilding} onClick={() => void rebuild()}>
            {rebuilding ? "Queueing…" : "Rebuild"}
          </button>
        </div>
      </div>

      <RunsCodeWarning symbols={build.runsCode} configHref={pagePath.config(build.configId)} />
      <Progress build={build} elapsedMs={duration} />
      <BuildTimeline steps={steps} />

      {error && <ErrorNote title="Lost contact with the server">{error} The page keeps trying.</ErrorNote>}
      {actionError && <ErrorNote>{actionError}</ErrorNote>}
      {actionNotice && (
        <p role="status" className="text-sm text-slate-300">
          {actionNotice}
        </p>
      )}
      {build.verification?.state === "done" && build.verification.reproducible === false && (
        <ErrorNote title="Not reproducible: a rebuild without ccache gave different bytes">
          <ul className="list-inside list-disc font-mono text-xs">
            {build.verification.differences.map((d) => (
              <li key={d.name} data-differs={d.name}>
                {d.name}
                {d.offset !== null ? ` differs from byte ${d.offset}` : " is missing in one of the two"}
              </li>
            ))}
          </ul>
          <p className="mt-1 text-xs">
            The rebuild&apos;s log: <a className="underline" href={apiPath.buildVerifyLog(build.id)}>verify log</a>.
          </p>
        </ErrorNote>
      )}
      {build.verification?.state === "failed" && <ErrorNote title="The verify rebuild did not finish">{build.verification.error}</ErrorNote>}
      {(build.state === "failed" || build.state === "timed_out") && (
        <ErrorNote
          title={build.state === "timed_out" ? `The build ran out of time${build.failedStep ? ` in step ${build.failedStep}` : ""}` : `The build failed${build.failedStep ? ` at step ${build.failedStep}` : ""}`}
          action={
            <a className={button.secondary} href="#log-error">
              Show in the log
            </a>
          }
        >
          <p>{failure.head}</p>
          {failure.line && <code className="mt-1 block break-all font-mono text-xs text-red-100">{failure.line}</code>}
          <p className="mt-1 text-xs">Fix the config (Open config → Open in menuconfig) and build again; if the log points at the build machine, tell its operator.</p>
        </ErrorNote>
      )}

      <div className="grid gap-4 lg:grid-cols-[1fr_22rem]">
        <BuildLog text={log.text} error={log.error} href={apiPath.buildLog(build.id)} highlight={failure.line} />
        <div className="flex min-w-0 flex-col gap-4">
          <section className={panel + " p-3"} aria-labelledby="artifacts-heading">
            <h2 id="artifacts-heading" className="mb-2 text-sm font-semibold">
              Artifacts
            </h2>
            {build.artifacts.length === 0 ? (
              <p className="text-xs text-slate-500">
                {build.expired
                  ? "The artifacts of this build were removed by retention. Rebuild to make them again."
                  : finished
                    ? "This build produced no artifacts."
                    : "Artifacts appear here when the build succeeds."}
              </p>
            ) : (
              <ul className="space-y-2">
                {build.artifacts.map((a) => (
                  <li key={a.name} className="rounded border border-slate-800 bg-slate-950/60 p-2" data-artifact={a.name}>
                    <div className="flex items-baseline justify-between gap-2">
                      <a href={a.url} download={a.name} className="break-all font-mono text-sm text-emerald-300 hover:underline">
                        {a.name}
                      </a>
                      <span className="shrink-0 text-xs text-slate-400">{formatBytes(a.size)}</span>
                    </div>
                    <div className="flex items-center gap-1">
                      <code className="min-w-0 flex-1 truncate font-mono text-[11px] text-slate-500" title={a.sha256} data-sha256={a.sha256}>
                        sha256 {a.sha256}
                      </code>
                      <CopyButton text={a.sha256} label="Copy" />
                    </div>
                  </li>
                ))}
              </ul>
            )}
          </section>
          {build.state === "succeeded" && !build.expired && <FlashGuide buildId={build.id} />}
          {build.artifacts.some((a) => a.name === "vm-manifest.json") && (
            <section className={panel + " p-3 text-xs"} aria-labelledby="boot-heading">
              <h2 id="boot-heading" className="mb-1 text-sm font-semibold">
                Boot it
              </h2>
              <p className="text-slate-400">On a machine with QEMU, in a kbs checkout; every file is checked against the manifest before it boots:</p>
              <pre className="mt-1 rounded bg-slate-950 px-2 py-1 font-mono break-all whitespace-pre-wrap text-slate-200">
                npx kbs vm run {build.id} --url {origin || "http://<this server>"}
              </pre>
            </section>
          )}
          {build.manifest != null && (
            <details className={panel}>
              <summary className="cursor-pointer px-3 py-2 text-sm font-semibold">Manifest</summary>
              <pre className="max-h-96 overflow-auto border-t border-slate-800 px-3 py-2 font-mono text-[11px] text-slate-300">{JSON.stringify(build.manifest, null, 2)}</pre>
            </details>
          )}
        </div>
      </div>
    </main>
  );
}
