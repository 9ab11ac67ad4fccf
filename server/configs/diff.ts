import type { ParsedConfig } from "./parse";

export interface ConfigDiff {
  added: Array<{ symbol: string; value: string }>;
  removed: Array<{ symbol: string; value: string }>;
  changed: Array<{ symbol: string; from: string; to: string }>;
}

/** What changes from `a` to `b`, symbol by symbol, sorted by symbol name. */
export function diffConfigs(a: Pick<ParsedConfig, "entries">, b: Pick<ParsedConfig, "entries">): ConfigDiff {
  const out: ConfigDiff = { added: [], removed: [], changed: [] };
  const symbols = [...new Set([...a.entries.keys(), ...b.entries.keys()])].sort();
  for (const symbol of symbols) {
    const from = a.entries.get(symbol);
    const to = b.entries.get(symbol);
    if (from === undefined) out.added.push({ symbol, value: to! });
    else if (to === undefined) out.removed.push({ symbol, value: from });
    else if (from !== to) out.changed.push({ symbol, from, to });
  }
  return out;
}
