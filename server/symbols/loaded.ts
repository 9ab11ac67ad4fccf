import type { SymbolEntry, SymbolIndexFile } from "./types";

export interface SymbolHit {
  name: string;
  type: string;
  prompt: string | null;
  /** How it matched: the name's start, elsewhere in the name, or a prompt. */
  match: "prefix" | "name" | "prompt";
}

/** The prefix .config files write before names (Kconfiglib's default; Buildroot's trees set BR2_ in their names). */
const CONFIG_PREFIX = "CONFIG_";

/** One symbol index in memory: lookups by name and the search the API serves. */
export class LoadedIndex {
  readonly byName: Map<string, SymbolEntry>;
  /** Upper-cased names and lower-cased prompts, in name order, for the search scan. */
  private readonly rows: Array<{ e: SymbolEntry; upper: string; prompts: string }>;

  constructor(readonly file: SymbolIndexFile) {
    const symbols = [...(file.symbols ?? [])].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    this.byName = new Map(symbols.map((e) => [e.name, e]));
    this.rows = symbols.map((e) => ({ e, upper: e.name.toUpperCase(), prompts: e.prompts.map((p) => p.text.toLowerCase()).join("\n") }));
  }

  get(name: string): SymbolEntry | undefined {
    return this.byName.get(name) ?? (name.startsWith(CONFIG_PREFIX) ? this.byName.get(name.slice(CONFIG_PREFIX.length)) : undefined);
  }

  /** Names that start with `q` first (shortest first), then names containing it, then prompts containing it. */
  search(q: string, limit: number): SymbolHit[] {
    const text = q.trim();
    if (!text) return this.rows.slice(0, limit).map((r) => hit(r.e, "prefix"));
    const needles = [text.toUpperCase()];
    if (needles[0]!.startsWith(CONFIG_PREFIX) && needles[0]!.length > CONFIG_PREFIX.length) needles.push(needles[0]!.slice(CONFIG_PREFIX.length));
    const lower = text.toLowerCase();
    const prefix: SymbolEntry[] = [];
    const inName: SymbolEntry[] = [];
    const inPrompt: SymbolEntry[] = [];
    for (const r of this.rows) {
      if (needles.some((n) => r.upper.startsWith(n))) prefix.push(r.e);
      else if (needles.some((n) => r.upper.includes(n))) inName.push(r.e);
      else if (r.prompts.includes(lower)) inPrompt.push(r.e);
    }
    prefix.sort((a, b) => a.name.length - b.name.length || (a.name < b.name ? -1 : 1));
    return [...prefix.map((e) => hit(e, "prefix")), ...inName.map((e) => hit(e, "name")), ...inPrompt.map((e) => hit(e, "prompt"))].slice(0, limit);
  }
}

function hit(e: SymbolEntry, match: SymbolHit["match"]): SymbolHit {
  return { name: e.name, type: e.type, prompt: e.prompts[0]?.text ?? null, match };
}
