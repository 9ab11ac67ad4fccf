// Shapes of the symbol explorer's API (server/symbols/types.ts, server/http/routes/symbols.ts) as the pages read them.

export interface Conditional {
  cond: string | null;
}

export interface SymbolEntry {
  name: string;
  type: string;
  prompts: Array<{ text: string } & Conditional>;
  help: string | null;
  sites: Array<{ file: string; line: number }>;
  dependsOn: string | null;
  visibleIf: string | null;
  selects: Array<{ symbol: string } & Conditional>;
  selectedBy: Array<{ symbol: string } & Conditional>;
  implies: Array<{ symbol: string } & Conditional>;
  impliedBy: Array<{ symbol: string } & Conditional>;
  defaults: Array<{ value: string } & Conditional>;
  ranges: Array<{ low: string; high: string } & Conditional>;
  menu: string[][];
  choice: { name: string | null; prompt: string | null; members: string[]; default: string | null } | null;
  refs: string[];
}

export type ValueReason =
  | { kind: "user" }
  | { kind: "selected"; by: string[] }
  | { kind: "implied"; by: string[] }
  | { kind: "invisible"; because: string[] }
  | { kind: "default"; from?: string; cond?: string }
  | { kind: "absent" };

export interface SymbolLookup extends SymbolEntry {
  rev: string;
  describe: string;
  kconfigHash: string;
  config?: { id: string; describe: string; value: string | null; inConfig: boolean; why: ValueReason };
}

export interface SymbolHit {
  name: string;
  type: string;
  prompt: string | null;
  match: "prefix" | "name" | "prompt";
}

export interface SymbolSearchResult {
  rev: string;
  describe: string;
  total: number;
  symbols: SymbolHit[];
}

export interface SymbolHistory {
  symbol: string;
  first: { rev: string; sha: string } | null;
  last: { rev: string; sha: string } | null;
  changes: Array<{ rev: string; sha: string; kind: "added" | "changed" | "removed"; parts?: string[] }>;
  trees: { total: number; indexed: number; unparsed: number; pending: number };
}

/** GET /api/configs/:id/symbols */
export interface ConfigSymbols {
  id: string;
  project: string;
  commit: string;
  chosen: string[];
  changed: Array<{ symbol: string; value: string; default: string | null; chosen: boolean; inConfig: boolean; why: ValueReason | null }>;
}

const enc = encodeURIComponent;

/** The server-rendered symbol page. */
export const symbolPageHref = (project: string, rev: string, name: string) => `/x/${enc(project)}/${enc(rev)}/${enc(name)}`;

/** The tree file view, at a line. */
export const fileViewHref = (project: string, rev: string, file: string, line?: number) =>
  `/f/${enc(project)}/${enc(rev)}/${file.split("/").map(enc).join("/")}${line ? `#L${line}` : ""}`;

const query = (params: Record<string, string | number | undefined>) => {
  const q = new URLSearchParams(Object.entries(params).filter((e): e is [string, string | number] => e[1] !== undefined && e[1] !== "").map(([k, v]) => [k, String(v)])).toString();
  return q ? `?${q}` : "";
};

/** One symbol; with a config id its value there and why; `arch` for trees with an ARCH choice (Linux). */
export const symbolApi = (project: string, rev: string, name: string, opts: { configId?: string; arch?: string } = {}) =>
  `/api/projects/${enc(project)}/revisions/${enc(rev)}/symbols/${enc(name)}${query({ config: opts.configId, arch: opts.arch })}`;

export const symbolSearchApi = (project: string, rev: string, q: string, opts: { limit?: number; arch?: string } = {}) =>
  `/api/projects/${enc(project)}/revisions/${enc(rev)}/symbols${query({ q, limit: opts.limit ?? 30, arch: opts.arch })}`;

/** A config value's reason, in words. */
export function reasonText(why: ValueReason | null | undefined): string {
  if (!why) return "";
  switch (why.kind) {
    case "user":
      return "set by the user";
    case "selected":
      return `selected by ${why.by.join(", ")}`;
    case "implied":
      return `implied by ${why.by.join(", ")}`;
    case "invisible":
      return `invisible because ${why.because.join(" and ")} ${why.because.length > 1 ? "are" : "is"} n`;
    case "absent":
      return "not in this config's tree";
    default:
      return why.from !== undefined ? `the default (${why.from}${why.cond ? ` if ${why.cond}` : ""})` : "the default";
  }
}
