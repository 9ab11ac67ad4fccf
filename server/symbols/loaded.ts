import type { SymbolEntry, SymbolHit, SymbolIndexFile } from "../../contracts/symbols";

/** The prefix .config files write before names (Kconfiglib's default; Buildroot's trees set BR2_ in their names). */
const CONFIG_PREFIX = "CONFIG_";

/** One symbol index in memory: lookups by name and the search the API serves. */
export class LoadedIndex {
  readonly byName: Map<string, SymbolEntry>;
  /** Entries sorted by upper-cased name, and those names: a prefix is a binary-searched range. */
  private readonly sorted: SymbolEntry[];
  private readonly upper: string[];
  /** Every upper-cased name (and every lower-cased prompt text), joined by newlines, with where each entry starts: one native indexOf scan per search. */
  private readonly names: Haystack;
  private readonly prompts: Haystack;

  constructor(readonly file: SymbolIndexFile) {
    const rows = (file.symbols ?? []).map((e) => ({ e, upper: e.name.toUpperCase() })).sort((a, b) => (a.upper < b.upper ? -1 : a.upper > b.upper ? 1 : 0));
    this.sorted = rows.map((r) => r.e);
    this.upper = rows.map((r) => r.upper);
    this.byName = new Map(this.sorted.map((e) => [e.name, e]));
    this.names = new Haystack(this.upper);
    this.prompts = new Haystack(this.sorted.map((e) => e.prompts.map((p) => p.text.toLowerCase().replace(/\n/g, " ")).join(" \u0001 ")));
  }

  get(name: string): SymbolEntry | undefined {
    return this.byName.get(name) ?? (name.startsWith(CONFIG_PREFIX) ? this.byName.get(name.slice(CONFIG_PREFIX.length)) : undefined);
  }

  /** Names that start with `q` first (shortest first), then names containing it, then prompts containing it. */
  search(q: string, limit: number): SymbolHit[] {
    const text = q.trim();
    if (!text) return this.sorted.slice(0, limit).map((e) => hit(e, "prefix"));
    const needles = [text.toUpperCase().replace(/\n/g, " ")];
    if (needles[0]!.startsWith(CONFIG_PREFIX) && needles[0]!.length > CONFIG_PREFIX.length) needles.push(needles[0]!.slice(CONFIG_PREFIX.length));
    const seen = new Set<number>();
    const prefix: number[] = [];
    for (const n of needles) {
      for (let i = this.lowerBound(n); i < this.upper.length && this.upper[i]!.startsWith(n); i++) {
        if (!seen.has(i)) prefix.push(i);
        seen.add(i);
      }
    }
    prefix.sort((a, b) => this.upper[a]!.length - this.upper[b]!.length || a - b);
    const out = prefix.slice(0, limit).map((i) => hit(this.sorted[i]!, "prefix"));
    for (const n of needles) this.names.find(n, seen, limit - out.length, (i) => out.push(hit(this.sorted[i]!, "name")));
    this.prompts.find(text.toLowerCase(), seen, limit - out.length, (i) => out.push(hit(this.sorted[i]!, "prompt")));
    return out;
  }

  private lowerBound(key: string): number {
    let lo = 0;
    let hi = this.upper.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.upper[mid]! < key) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/** Strings joined by newlines with each one's start, so a substring search is one indexOf scan. */
class Haystack {
  private readonly text: string;
  private readonly starts: number[];

  constructor(items: string[]) {
    this.starts = [];
    let pos = 0;
    for (const s of items) {
      this.starts.push(pos);
      pos += s.length + 1;
    }
    this.text = items.join("\n");
  }

  /** Calls `found` with the index of each item containing `needle` and not in `seen` (adding it), in order, at most `max` times. */
  find(needle: string, seen: Set<number>, max: number, found: (i: number) => void): void {
    let n = 0;
    let from = 0;
    while (n < max) {
      const at = this.text.indexOf(needle, from);
      if (at < 0) return;
      const i = this.itemAt(at);
      const next = i + 1 < this.starts.length ? this.starts[i + 1]! : this.text.length + 1;
      if (!seen.has(i)) {
        seen.add(i);
        found(i);
        n++;
      }
      from = next;
    }
  }

  private itemAt(pos: number): number {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid]! <= pos) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
}

function hit(e: SymbolEntry, match: SymbolHit["match"]): SymbolHit {
  return { name: e.name, type: e.type, prompt: e.prompts[0]?.text ?? null, match };
}
