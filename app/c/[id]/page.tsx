import type { Metadata } from "next";
import { notFound } from "next/navigation";
import { serverApi, serverApiOrMissing, ServerApiError } from "../../../components/api/server";
import type { BuildSummary, ConfigDiff, ProjectSummary, Revision, StoredConfig } from "../../../contracts/api";
import type { ConfigSymbols } from "../../../contracts/symbols";
import { apiPath, pagePath } from "../../../contracts/urls";
import { ChangedSymbolsTable } from "../../../components/config/ChangedSymbolsTable";
import { ChosenSymbols } from "../../../components/symbols/ChosenSymbols";
import { ConfigActions } from "../../../components/config/ConfigActions";
import { ConfigDiffTable, defaultsRows, diffRows } from "../../../components/config/ConfigDiffTable";
import { ConfigText } from "../../../components/config/ConfigText";
import { RunsCodeWarning } from "../../../components/config/RunsCodeWarning";
import { KernelDefconfig } from "../../../components/config/KernelDefconfig";
import { UpgradeNotice } from "../../../components/config/UpgradeNotice";
import { ReproducibleBadge } from "../../../components/build/ReproducibleBadge";
import { ErrorNote } from "../../../components/ui/ErrorNote";
import { formatDate, shortSha } from "../../../components/ui/format";
import { button, input, panel } from "../../../components/ui/styles";
import { firstParam, type SearchParams } from "../../../components/api/params";

export const metadata: Metadata = { title: "Shared config — kbs" };

async function revisionOf(cfg: StoredConfig): Promise<Revision | undefined> {
  const commit = cfg.commit ?? cfg.rev;
  const list = await serverApi<Revision[]>(apiPath.revisions(cfg.project, { q: commit, limit: 1 })).catch(() => []);
  return list.find((r) => r.sha === commit) ?? list[0];
}

async function diffAgainst(id: string, against: string): Promise<{ diff?: ConfigDiff; error?: string }> {
  try {
    return { diff: await serverApi<ConfigDiff>(apiPath.configDiff(against, id)) };
  } catch (e) {
    if (e instanceof ServerApiError && e.status === 404) return { error: `There is no config "${against}". Paste the id from a share link (/c/<id>).` };
    return { error: e instanceof Error ? e.message : String(e) };
  }
}

// Server-rendered: everything but the two action buttons and copy works without JavaScript.
export default async function Page(props: { params: Promise<{ id: string }>; searchParams: SearchParams }) {
  const { id } = await props.params;
  const q = await props.searchParams;
  const against = firstParam(q.against)?.trim().replace(/^.*\/c\//, "") || undefined;
  const canonical = firstParam(q.form) === "canonical";
  const cfg = await serverApiOrMissing<StoredConfig>(apiPath.config(id));
  if (!cfg) notFound();
  const [revision, compared, project, builds, symbols] = await Promise.all([
    revisionOf(cfg),
    against ? diffAgainst(cfg.id, against) : Promise.resolve(undefined),
    serverApi<ProjectSummary>(apiPath.project(cfg.project)).catch(() => undefined),
    serverApi<BuildSummary[]>(apiPath.builds({ config: cfg.id })).catch(() => []),
    serverApi<ConfigSymbols>(apiPath.configSymbols(cfg.id)).catch(() => undefined),
  ]);
  const commit = cfg.commit ?? cfg.rev;
  const describe = cfg.describe ?? revision?.describe ?? shortSha(commit);
  const symbolHref = (name: string) => pagePath.symbol(cfg.project, commit, name, { config: cfg.id });

  return (
    <main className="mx-auto flex max-w-6xl flex-col gap-4 px-3 py-5 sm:px-6">
      <div className="flex flex-wrap items-start justify-between gap-3">
        <div className="min-w-0">
          <p className="text-xs uppercase tracking-wide text-slate-400">Shared config</p>
          <h1 className="text-xl font-semibold">
            {cfg.project} <span className="font-mono text-emerald-300">@ {describe}</span>
          </h1>
          <dl className="mt-1 flex flex-wrap gap-x-4 gap-y-0.5 text-xs text-slate-400">
            <div>
              <dt className="inline">commit </dt>
              <dd className="inline font-mono text-slate-300">{shortSha(commit)}</dd>
            </div>
            {revision?.date && (
              <div>
                <dt className="inline">date </dt>
                <dd className="inline text-slate-300">{formatDate(revision.date)}</dd>
              </div>
            )}
            <div>
              <dt className="inline">config </dt>
              <dd className="inline break-all font-mono text-slate-300">{cfg.id.slice(0, 16)}</dd>
            </div>
            <div>
              <dt className="inline">changed symbols </dt>
              <dd className="inline text-slate-300">{cfg.changed.length}</dd>
            </div>
          </dl>
        </div>
        <ConfigActions configId={cfg.id} project={cfg.project} rev={commit} describe={describe} />
      </div>
      <UpgradeNotice configId={cfg.id} project={cfg.project} />

      <RunsCodeWarning symbols={cfg.runsCode} />

      {builds.length > 0 && (
        <section className={panel + " p-3"} aria-labelledby="builds-heading">
          <h2 id="builds-heading" className="mb-2 text-sm font-semibold">
            Builds of this config
          </h2>
          <ul className="flex flex-col gap-1 text-sm">
            {builds.map((b) => (
              <li key={b.id} className="flex flex-wrap items-center gap-2" data-build={b.id}>
                <a className="font-mono text-emerald-300 hover:underline" href={pagePath.build(b.id)}>
                  {b.id.slice(0, 12)}
                </a>
                <span className="font-mono text-xs text-slate-400">{b.describe}</span>
                <span className="text-xs text-slate-400">{b.state.replace("_", " ")}</span>
                <ReproducibleBadge verification={b.verification} />
              </li>
            ))}
          </ul>
        </section>
      )}

      <div className="grid gap-4 lg:grid-cols-2">
        <section className={panel + " p-3"} aria-labelledby="changed-heading">
          <h2 id="changed-heading" className="mb-2 text-sm font-semibold">
            Changed from the revision&apos;s defaults
          </h2>
          {symbols ? <ChosenSymbols changed={symbols.changed} href={symbolHref} /> : <ChangedSymbolsTable changed={cfg.changed} />}
        </section>

        <section className={panel + " p-3"} aria-labelledby="diff-heading">
          <div className="mb-2 flex flex-wrap items-center justify-between gap-2">
            <h2 id="diff-heading" className="text-sm font-semibold">
              Diff{" "}
              {against ? (
                <>
                  against config{" "}
                  <a className="font-mono text-emerald-300 hover:underline" href={pagePath.config(against)}>
                    {against.slice(0, 12)}
                  </a>
                </>
              ) : (
                "against the defaults"
              )}
            </h2>
            <form method="get" className="flex w-full gap-2 sm:w-auto">
              <input name="against" defaultValue={against ?? ""} aria-label="Compare with config id" placeholder="other config id or share link" className={input + " font-mono sm:w-64"} />
              <button type="submit" className={button.secondary}>
                Compare
              </button>
            </form>
          </div>
          {compared?.error && <ErrorNote>{compared.error}</ErrorNote>}
          {compared?.diff && <ConfigDiffTable rows={diffRows(compared.diff)} fromLabel={`config ${against!.slice(0, 8)}`} toLabel="this config" symbolHref={symbolHref} />}
          {!against && <ConfigDiffTable rows={defaultsRows(cfg.changed)} fromLabel="default" toLabel="this config" symbolHref={symbolHref} />}
          {against && (
            <a href="?" className="mt-2 inline-block text-xs text-slate-400 underline">
              back to the diff against defaults
            </a>
          )}
        </section>
      </div>

      {project && project.arches.length > 0 && (
        <KernelDefconfig configId={cfg.id} name={firstParam(q.defconfig)?.trim() || undefined} arch={firstParam(q.arch)?.trim() || undefined} />
      )}

      {/* As the tree's tools write it (what a local .config looks like), or sorted as the id covers it. */}
      <nav aria-label="Form of the full .config" className="-mb-2 flex gap-3 text-xs text-slate-400">
        <span>Full .config:</span>
        {canonical ? <a className="underline" href={`?form=written`}>as the tree writes it</a> : <span className="text-slate-200">as the tree writes it</span>}
        {canonical ? <span className="text-slate-200">sorted, no comments (what the id covers)</span> : <a className="underline" href={`?form=canonical`}>sorted, no comments (what the id covers)</a>}
      </nav>
      <ConfigText
        id="full-config"
        title={canonical ? "Full .config (sorted)" : "Full .config"}
        text={canonical ? cfg.text : (cfg.written ?? cfg.text)}
        href={apiPath.configRaw(cfg.id, canonical ? { form: "canonical" } : {})}
        filename=".config"
      />
      <ConfigText id="min-config" title="Minimal defconfig (savedefconfig)" text={cfg.defconfig} href={apiPath.configDefconfig(cfg.id)} filename="defconfig" open />
    </main>
  );
}
