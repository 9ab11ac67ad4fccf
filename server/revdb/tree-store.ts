import type { Db } from "../core/db";
import { withExtras, type KconfigEntry } from "./kconfig-tree";
import type { TreeChange } from "./serial-tree";

/**
 * How revdb keeps kconfig trees (table revdb_trees, keyed by kconfig hash): a tree is
 * stored whole (a snapshot: every entry, the recipe's extras flagged) or as the changes
 * one commit made to the tree it was made from (a delta on `base`). A snapshot every
 * MAX_DEPTH deltas bounds a read. Buildroot's ~4,000 kconfig files change in tens of
 * thousands of commits: whole trees would be gigabytes, deltas are a few MB.
 */
export const MAX_DEPTH = 128;

type SnapshotRow = Array<[string, string, string, number?]>;

export interface StoredTree {
  hash: string;
  base: string | undefined;
  depth: number;
  /** The snapshot's entries, or the delta's changes. */
  body: KconfigEntry[] | TreeChange[];
  files: number;
}

export function snapshot(hash: string, own: KconfigEntry[], extras: KconfigEntry[]): StoredTree {
  const all = withExtras(own, extras);
  return { hash, base: undefined, depth: 0, body: all, files: all.length };
}

export function writeTree(db: Db, t: StoredTree): void {
  const body = t.base === undefined ? JSON.stringify((t.body as KconfigEntry[]).map((e) => (e.extra ? [e.path, e.mode, e.blob, 1] : [e.path, e.mode, e.blob]))) : JSON.stringify(t.body);
  db.prepare("INSERT OR IGNORE INTO revdb_trees (hash, entries, files, base, depth) VALUES (?, ?, ?, ?, ?)").run(t.hash, body, t.files, t.base ?? null, t.depth);
}

/** The depth of a stored tree (0 for a snapshot); undefined when it is not stored. */
export function storedDepth(db: Db, hash: string): number | undefined {
  return db.prepare("SELECT depth FROM revdb_trees WHERE hash = ?").pluck().get(hash) as number | undefined;
}

/** The kconfig tree behind a hash, sorted, extras flagged; undefined when it is not stored. */
export function readTree(db: Db, hash: string): KconfigEntry[] | undefined {
  const row = db.prepare("SELECT entries, base FROM revdb_trees WHERE hash = ?");
  const deltas: TreeChange[][] = [];
  let at: string | null = hash;
  for (let n = 0; at !== null; n++) {
    const r = row.get(at) as { entries: string; base: string | null } | undefined;
    if (!r || n > MAX_DEPTH + 1) return undefined;
    if (r.base === null) {
      const own = new Map<string, KconfigEntry>();
      const extras: KconfigEntry[] = [];
      for (const [path, mode, blob, extra] of JSON.parse(r.entries) as SnapshotRow) {
        if (extra) extras.push({ path, mode, blob, extra: true });
        else own.set(path, { path, mode, blob });
      }
      for (const d of deltas.reverse())
        for (const [path, mode, blob] of d) {
          if (mode && blob) own.set(path, { path, mode, blob });
          else own.delete(path);
        }
      return withExtras(own.values(), extras);
    }
    deltas.push(JSON.parse(r.entries) as TreeChange[]);
    at = r.base;
  }
  return undefined;
}
