import type { ReactNode } from "react";
import type { SymbolLookup } from "../../contracts/symbols";
import { pagePath } from "../../contracts/urls";
import { reasonText } from "./reason";

/** How a symbol name becomes a link: the page's href, and (in the side panel) a click handler that stays in place. */
export type SymbolLink = (name: string) => { href: string; onClick?: (e: React.MouseEvent<HTMLAnchorElement>) => void };

/** A Kconfig expression with the symbols it names as links. */
function Expr({ text, refs, link }: { text: string; refs: Set<string>; link: SymbolLink }) {
  const parts = text.split(/([A-Za-z0-9_]+)/);
  return (
    <code className="break-words font-mono text-xs text-slate-200">
      {parts.map((p, i) => {
        if (!refs.has(p)) return p;
        const l = link(p);
        return (
          <a key={i} href={l.href} onClick={l.onClick} className="text-emerald-300 hover:underline" data-symbol-link={p}>
            {p}
          </a>
        );
      })}
    </code>
  );
}

function Row({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div className="grid grid-cols-[7.5rem_1fr] gap-2 border-t border-slate-800 py-1.5 text-xs">
      <dt className="text-slate-400">{label}</dt>
      <dd className="min-w-0 space-y-0.5">{children}</dd>
    </div>
  );
}

/**
 * Everything the index knows of one symbol: prompt, type, value in a config and why, help,
 * dependencies and select/imply both ways as links, defaults, ranges, menu path, choice,
 * definition sites linking to the file view. Renders on the server (/x/ page) and in the
 * session's side panel.
 */
export function SymbolDetails({ entry, project, rev, link }: { entry: SymbolLookup; project: string; rev: string; link: SymbolLink }) {
  const refs = new Set([...entry.refs, entry.name]);
  const expr = (t: string) => <Expr text={t} refs={refs} link={link} />;
  const withCond = (main: ReactNode, cond: string | null, key: number) => (
    <div key={key}>
      {main}
      {cond && <span className="text-slate-500"> if </span>}
      {cond && expr(cond)}
    </div>
  );
  const symList = (items: Array<{ symbol: string; cond: string | null }>) => items.map((s, i) => withCond(expr(s.symbol), s.cond, i));
  const prompt = entry.prompts[0]?.text;
  return (
    <article className="space-y-2" aria-label={`Symbol ${entry.name}`} data-symbol-card={entry.name}>
      <header>
        <h3 className="break-all font-mono text-sm font-semibold text-slate-100">{entry.name}</h3>
        <p className="text-xs text-slate-400">
          {entry.type}
          {prompt ? ` · “${prompt}”` : " · no prompt (set by defaults and selects only)"}
        </p>
      </header>
      {entry.config && (
        <p className="rounded border border-slate-800 bg-slate-950/60 px-2 py-1 text-xs" data-symbol-value>
          {entry.config.inConfig ? (
            <>
              <span className="font-mono text-emerald-300">= {entry.config.value === "" ? '""' : entry.config.value}</span>
              <span className="text-slate-400"> — {reasonText(entry.config.why)}</span>
            </>
          ) : (
            <span className="text-slate-400">
              not in this config{entry.config.why.kind === "invisible" || entry.config.why.kind === "absent" ? ` (${reasonText(entry.config.why)})` : ""}
            </span>
          )}
        </p>
      )}
      {entry.help && <p className="whitespace-pre-wrap text-xs text-slate-300">{entry.help}</p>}
      <dl>
        {entry.dependsOn && <Row label="depends on">{expr(entry.dependsOn)}</Row>}
        {entry.visibleIf && entry.visibleIf !== entry.dependsOn && <Row label="visible if">{expr(entry.visibleIf)}</Row>}
        {entry.selects.length > 0 && <Row label="selects">{symList(entry.selects)}</Row>}
        {entry.selectedBy.length > 0 && <Row label="selected by">{symList(entry.selectedBy)}</Row>}
        {entry.implies.length > 0 && <Row label="implies">{symList(entry.implies)}</Row>}
        {entry.impliedBy.length > 0 && <Row label="implied by">{symList(entry.impliedBy)}</Row>}
        {entry.defaults.length > 0 && <Row label="defaults">{entry.defaults.map((d, i) => withCond(expr(d.value), d.cond, i))}</Row>}
        {entry.ranges.length > 0 && (
          <Row label="range">
            {entry.ranges.map((r, i) =>
              withCond(
                <>
                  {expr(r.low)} – {expr(r.high)}
                </>,
                r.cond,
                i,
              ),
            )}
          </Row>
        )}
        {entry.choice && (
          <Row label="choice">
            <div className="text-slate-300">{entry.choice.prompt ?? entry.choice.name ?? "(unnamed choice)"}</div>
            <div>
              {entry.choice.members.map((m, i) => (
                <span key={m}>
                  {i > 0 && ", "}
                  {expr(m)}
                  {m === entry.choice!.default && <span className="text-slate-500"> (default)</span>}
                </span>
              ))}
            </div>
          </Row>
        )}
        {entry.menu.some((m) => m.length > 0) && (
          <Row label="menu">
            {entry.menu.map((m, i) => (
              <div key={i} className="text-slate-300">
                {m.length ? m.join(" → ") : "(main menu)"}
              </div>
            ))}
          </Row>
        )}
        <Row label="defined at">
          {entry.sites.map((s, i) => (
            <div key={i}>
              <a className="font-mono text-emerald-300 hover:underline" href={pagePath.file(project, rev, s.file, s.line)} data-site={`${s.file}:${s.line}`}>
                {s.file}:{s.line}
              </a>
            </div>
          ))}
        </Row>
      </dl>
    </article>
  );
}
