import type { Metadata } from "next";
import { serverApi, ServerApiError } from "../../../../../components/api/server";
import { firstParam, type SearchParams } from "../../../../../components/api/params";
import { SymbolDetails } from "../../../../../components/symbols/SymbolDetails";
import type { SymbolHistory, SymbolLookup, SymbolSearchResult } from "../../../../../contracts/symbols";
import { apiPath, pagePath } from "../../../../../contracts/urls";
import { ErrorNote } from "../../../../../components/ui/ErrorNote";
import { button, input, panel } from "../../../../../components/ui/styles";

export async function generateMetadata(props: { params: Promise<{ project: string; symbol: string }> }): Promise<Metadata> {
  const { project, symbol } = await props.params;
  return { title: `${decodeURIComponent(symbol)} — ${decodeURIComponent(project)} — kbs` };
}

async function attempt<T>(p: Promise<T>): Promise<{ value?: T; error?: ServerApiError | Error }> {
  try {
    return { value: await p };
  } catch (e) {
    return { error: e as Error };
  }
}

const partText: Record<string, string> = { dependsOn: "dependencies", visibleIf: "visibility", files: "files", menu: "menu" };

/**
 * A symbol of one revision, server-rendered (works without JavaScript, deep-links like
 * LKDDb): the whole index entry, its value in `?config=`, its history over the
 * project's revisions, and a search form for other symbols of the same revision.
 */
export default async function Page(props: { params: Promise<{ project: string; rev: string; symbol: string }>; searchParams: SearchParams }) {
  const p = await props.params;
  const [project, rev, symbol] = [p.project, p.rev, p.symbol].map(decodeURIComponent) as [string, string, string];
  const q = await props.searchParams;
  const config = firstParam(q.config)?.trim() || undefined;
  const search = firstParam(q.q)?.trim() || undefined;
  const arch = firstParam(q.arch)?.trim() || undefined;
  const [entry, history, hits] = await Promise.all([
    attempt(serverApi<SymbolLookup>(apiPath.symbol(project, rev, symbol, { config, arch }))),
    attempt(serverApi<SymbolHistory>(apiPath.symbolHistory(project, symbol, { arch }))),
    search ? attempt(serverApi<SymbolSearchResult>(apiPath.symbols(project, rev, { q: search, limit: 50, arch }))) : Promise.resolve(undefined),
  ]);
  const e = entry.value;
  const closeMatches = (entry.error as ServerApiError | undefined)?.code === "unknown_symbol" ? [] : undefined;
  const h = history.value;
  const link = (name: string) => ({ href: pagePath.symbol(project, rev, name, { config, arch }) });

  return (
    <main className="mx-auto flex max-w-4xl flex-col gap-4 px-3 py-5 sm:px-6">
      <div>
        <p className="text-xs uppercase tracking-wide text-slate-400">Symbol</p>
        <h1 className="break-all text-xl font-semibold">
          <span className="font-mono">{e?.name ?? symbol}</span>{" "}
          <span className="text-base font-normal text-slate-400">
            in {project} <span className="font-mono text-emerald-300">@ {e?.describe ?? rev}</span>
          </span>
        </h1>
      </div>

      <form method="get" action={pagePath.symbol(project, rev, symbol)} className="flex gap-2" role="search">
        <input name="q" defaultValue={search ?? ""} aria-label="Search this revision's symbols" placeholder="Search symbols by name or prompt" className={input + " font-mono"} />
        {config && <input type="hidden" name="config" value={config} />}
        {arch && <input type="hidden" name="arch" value={arch} />}
        <button type="submit" className={button.secondary}>
          Search
        </button>
      </form>
      {hits?.error && <ErrorNote>{hits.error.message}</ErrorNote>}
      {hits?.value && (
        <section className={panel + " p-3"} aria-label="Search results">
          <ul className="space-y-0.5">
            {hits.value.symbols.map((s) => (
              <li key={s.name} className="font-mono text-xs">
                <a className="text-emerald-300 hover:underline" href={link(s.name).href}>
                  {s.name}
                </a>
                {s.prompt && <span className="ml-2 font-sans text-slate-400">{s.prompt}</span>}
              </li>
            ))}
            {hits.value.symbols.length === 0 && <li className="text-xs text-slate-500">No symbol of this revision matches “{search}”.</li>}
          </ul>
        </section>
      )}

      {entry.error && (
        <ErrorNote title={closeMatches ? "No such symbol here" : "Cannot show this symbol"}>
          {entry.error.message}
        </ErrorNote>
      )}
      {e && (
        <section className={panel + " p-3"}>
          <SymbolDetails entry={e} project={project} rev={e.rev} link={link} />
        </section>
      )}

      <section className={panel + " p-3"} aria-labelledby="history-heading">
        <h2 id="history-heading" className="mb-2 text-sm font-semibold">
          History in {project}
        </h2>
        {history.error && <p className="text-xs text-slate-400">{history.error.message}</p>}
        {h && (
          <div className="space-y-2 text-xs">
            <p className="text-slate-300" data-history-span>
              {h.first ? (
                <>
                  First in <span className="font-mono text-emerald-300">{h.first.rev}</span>, last in <span className="font-mono text-emerald-300">{h.last?.rev}</span>.
                </>
              ) : (
                "Not found in the revisions indexed so far."
              )}
            </p>
            {h.trees.pending > 0 && (
              <p className="text-amber-300">
                {h.trees.indexed} of {h.trees.total} distinct Kconfig trees indexed so far; reload in a while for the full history.
              </p>
            )}
            {h.trees.unparsed > 0 && <p className="text-slate-500">{h.trees.unparsed} trees whose Kconfig does not parse are left out.</p>}
            <ol aria-label="Definition changes" className="space-y-0.5">
              {h.changes.map((c) => (
                <li key={`${c.sha}-${c.kind}`} data-change={c.kind}>
                  <a className="font-mono text-emerald-300 hover:underline" href={pagePath.symbol(project, c.sha, e?.name ?? symbol)}>
                    {c.rev}
                  </a>{" "}
                  <span className="text-slate-300">
                    {c.kind === "added" ? "appears" : c.kind === "removed" ? "is gone" : `changes: ${(c.parts ?? []).map((x) => partText[x] ?? x).join(", ")}`}
                  </span>
                </li>
              ))}
            </ol>
          </div>
        )}
      </section>
    </main>
  );
}
