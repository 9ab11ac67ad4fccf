import crypto from "node:crypto";
import type { Recipe } from "../core/recipe";

/**
 * The kconfig-only tree of a commit: the files matching the recipe's `kconfigPaths`,
 * as (path, mode, git blob id), plus the recipe's `extraFiles` where the tree lacks them.
 * Its hash is sha256 over the sorted entries, so it is computable from git objects
 * alone and the same whatever tar wraps it.
 */
export interface KconfigEntry {
  path: string;
  /** git mode: "100644", "100755" or "120000" */
  mode: string;
  blob: string;
  /** Added from the recipe's extraFiles (not in the tree). */
  extra?: boolean;
}

/** `**` any number of segments, `*` and `?` within one segment. */
export function globToRegExp(glob: string): RegExp {
  const segs = glob.split("/");
  let re = "";
  segs.forEach((seg, i) => {
    const last = i === segs.length - 1;
    if (seg === "**") {
      re += last ? ".+" : "(?:[^/]+/)*";
      return;
    }
    re += seg.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, "[^/]*").replace(/\?/g, "[^/]");
    if (!last) re += "/";
  });
  return new RegExp(`^${re}$`);
}

export function pathMatcher(globs: string[]): (path: string) => boolean {
  const res = globs.map(globToRegExp);
  return (p) => res.some((r) => r.test(p));
}

export function gitBlobId(data: Buffer): string {
  return crypto.createHash("sha1").update(`blob ${data.length}\0`).update(data).digest("hex");
}

/** The recipe's synthetic files as entries. */
export function extraEntries(recipe: Pick<Recipe, "extraFiles">): KconfigEntry[] {
  return Object.entries(recipe.extraFiles)
    .map(([p, text]) => ({ path: p, mode: "100644", blob: gitBlobId(Buffer.from(text)), extra: true }))
    .sort(byPath);
}

export const byPath = (a: { path: string }, b: { path: string }) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);

/** Tree entries plus the extras the tree lacks, sorted by path. */
export function withExtras(tree: Iterable<KconfigEntry>, extras: KconfigEntry[]): KconfigEntry[] {
  const out = [...tree];
  const have = new Set(out.map((e) => e.path));
  for (const x of extras) if (!have.has(x.path)) out.push(x);
  return out.sort(byPath);
}

export function kconfigHash(entries: KconfigEntry[]): string {
  const h = crypto.createHash("sha256");
  for (const e of [...entries].sort(byPath)) h.update(`${e.mode} ${e.blob} ${e.path}\n`);
  return h.digest("hex");
}

/** A short, stable id of what makes a project's hashes (paths + extras + external trees' entries): a change means re-indexing. */
export function recipeFingerprint(recipe: Pick<Recipe, "kconfigPaths" | "extraFiles">, externals: KconfigEntry[] = []): string {
  return crypto
    .createHash("sha256")
    .update(JSON.stringify([recipe.kconfigPaths, Object.entries(recipe.extraFiles).sort(), ...(externals.length ? [externals.map((e) => [e.path, e.mode, e.blob])] : [])]))
    .digest("hex")
    .slice(0, 16);
}
