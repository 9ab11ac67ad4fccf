import crypto from "node:crypto";
import { setImmediate as yieldToEventLoop } from "node:timers/promises";
import type { Db } from "../core/db";
import { git, gitText } from "../gitref/git";
import type { GitRef, ProjectRef } from "../gitref/gitref";
import type { Recipe } from "../core/recipe";
import { Describer, type DescribeCommit, type DescribeTag } from "./describe";
import { extraEntries, pathMatcher, recipeFingerprint, type KconfigEntry } from "./kconfig-tree";
import { SerialTree, type TreeChange } from "./serial-tree";
import { MAX_DEPTH, readTree, snapshot, storedDepth, writeTree, type StoredTree } from "./tree-store";

export interface IndexProgress {
  done: number;
  total: number;
}

export interface IndexResult {
  newCommits: number;
  totalCommits: number;
  /** old commits whose describe changed because tags moved */
  redescribed: number;
  /** commits no longer reachable from any ref (deleted or force-pushed branches) */
  removed: number;
}

interface ParsedCommit {
  sha: string;
  parents: string[];
  date: number;
  /** changed paths vs the first parent (all paths for a root commit): [path, newMode, newBlob] */
  changes: Array<[string, string, string]>;
}

const EMPTY_MODE = "000000";

/**
 * Parse `git log -z --raw --format=%x01%H %P %ct` output: a header token per commit,
 * then `:oldmode newmode oldsha newsha status` / path token pairs.
 */
function parseLog(raw: string): ParsedCommit[] {
  const out: ParsedCommit[] = [];
  const tokens = raw.split("\0");
  let cur: ParsedCommit | undefined;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!.replace(/^\n+/, "");
    if (t.startsWith("\x01")) {
      const parts = t.slice(1).trim().split(" ").filter(Boolean);
      cur = { sha: parts[0]!, parents: parts.slice(1, -1), date: Number(parts[parts.length - 1]), changes: [] };
      out.push(cur);
    } else if (t.startsWith(":") && cur) {
      const meta = t.slice(1).split(" ");
      const file = tokens[++i]!;
      cur.changes.push([file, meta[1]!, meta[3]!]);
    }
  }
  return out;
}

/** The recipe's kconfig entries of one commit, straight from `git ls-tree` (first commits, and the bench baseline). */
export async function lsTreeKconfig(gitDir: string, sha: string, matches: (p: string) => boolean): Promise<Map<string, KconfigEntry>> {
  const out = await gitText(gitDir, ["ls-tree", "-r", "-z", "--full-tree", sha]);
  const entries = new Map<string, KconfigEntry>();
  for (const rec of out.split("\0")) {
    const tab = rec.indexOf("\t");
    if (tab === -1) continue;
    const [mode, type, blob] = rec.slice(0, tab).split(" ");
    const p = rec.slice(tab + 1);
    if (type === "blob" && matches(p)) entries.set(p, { path: p, mode: mode!, blob: blob! });
  }
  return entries;
}

export function tagsForDescribe(projectId: string, refs: ProjectRef[]): DescribeTag[] {
  return refs
    .filter((r) => r.kind === "tag")
    .map((r) => ({ name: r.embeddedName ?? r.name, refname: `refs/tags/${projectId}/${r.name}`, commit: r.commit, annotated: r.annotated, taggerDate: r.taggerDate }));
}

/**
 * Index every commit reachable from the project's refs that the db does not have yet:
 * one `git log --raw` pass over the new commits gives parents, dates and changed paths;
 * a commit whose diff against its first parent touches no kconfig path shares the
 * parent's kconfig tree, so trees are only rebuilt where kconfig files changed.
 * Everything is written in one transaction at the end: an interrupted index leaves
 * the db as it was.
 */
export async function indexProject(opts: {
  db: Db;
  gitref: GitRef;
  projectId: string;
  recipe: Recipe;
  /** the project's refs, when the caller has just read them */
  refs?: ProjectRef[];
  /** The project's external trees' kconfig files (projects/externals.ts): added to every commit's tree as the recipe's extras are. */
  externals?: KconfigEntry[];
  onProgress?: (p: IndexProgress) => void;
}): Promise<IndexResult> {
  const { db, gitref, projectId: id, recipe } = opts;
  const refs = opts.refs ?? (await gitref.refs(id));
  const state = db.prepare("SELECT recipe_fingerprint, tags_fingerprint FROM revdb_state WHERE project = ?").get(id) as
    | { recipe_fingerprint: string; tags_fingerprint: string }
    | undefined;
  const externals = opts.externals ?? [];
  const recipeFp = recipeFingerprint(recipe, externals);
  const full = !state || state.recipe_fingerprint !== recipeFp;
  const oldTips = full
    ? []
    : (db.prepare("SELECT DISTINCT r.sha FROM revdb_refs r JOIN revdb_commits c ON c.project = r.project AND c.sha = r.sha WHERE r.project = ?").pluck().all(id) as string[]);
  const tips = [...new Set(refs.map((r) => r.commit))];

  let parsed: ParsedCommit[] = [];
  const abbrevOf = new Map<string, string>();
  if (tips.length) {
    const input = [...tips, ...oldTips.map((s) => `^${s}`)].join("\n") + "\n";
    const [raw, abbrevs] = await Promise.all([
      git(gitref.dir, ["log", "--stdin", "--no-renames", "--diff-merges=first-parent", "--raw", "--no-abbrev", "-z", "--root", "--topo-order", "--reverse", "--format=%x01%H %P %ct"], { input, timeoutMs: 600_000 }),
      gitText(gitref.dir, ["log", "--stdin", "--format=%H %h"], { input, timeoutMs: 600_000 }),
    ]);
    parsed = parseLog(raw.toString("utf8"));
    for (const line of abbrevs.split("\n")) {
      const sp = line.indexOf(" ");
      if (sp > 0) abbrevOf.set(line.slice(0, sp), line.slice(sp + 1));
    }
  }
  // Commits only reachable from tips that went away (deleted or force-pushed branches) leave
  // the index. An old tip that a new commit has as parent (a fast-forward) is still reachable.
  const stillReachable = new Set([...tips, ...parsed.flatMap((c) => c.parents)]);
  const goneTips = oldTips.filter((t) => !stillReachable.has(t));
  const gone =
    goneTips.length && tips.length
      ? (await gitText(gitref.dir, ["rev-list", "--stdin"], { input: [...goneTips, ...tips.map((t) => `^${t}`)].join("\n") + "\n", timeoutMs: 600_000 })).split("\n").filter(Boolean)
      : [];

  // kconfig trees, parents first. A tree is kept in memory only while a commit still to
  // come has its commit as first parent; the index keeps each commit's hash.
  const matches = pathMatcher(recipe.kconfigPaths);
  const extras = [...extraEntries(recipe), ...externals];
  const hashOf = new Map<string, string>();
  const live = new Map<string, SerialTree>();
  const children = new Map<string, number>();
  for (const c of parsed) if (c.parents.length) children.set(c.parents[0]!, (children.get(c.parents[0]!) ?? 0) + 1);
  /** Trees this index stores (new to the db), and the depth of every tree it met. */
  const toStore = new Map<string, StoredTree>();
  const depthOf = new Map<string, number>();
  const commitHash = db.prepare("SELECT kconfig_hash FROM revdb_commits WHERE project = ? AND sha = ?").pluck();
  const fromGit = async (sha: string): Promise<SerialTree> => {
    const t = SerialTree.of((await lsTreeKconfig(gitref.dir, sha, matches)).values(), extras);
    if (!depthOf.has(t.hash)) {
      const stored = storedDepth(db, t.hash);
      if (stored === undefined) toStore.set(t.hash, snapshot(t.hash, t.ownEntries(), extras));
      depthOf.set(t.hash, stored ?? 0);
    }
    return t;
  };
  /** The tree of a commit this index did not make: from the db on an incremental index, else from git. */
  const knownTree = async (sha: string): Promise<SerialTree> => {
    const hash = full ? undefined : (commitHash.get(id, sha) as string | undefined);
    const stored = hash ? readTree(db, hash) : undefined;
    if (hash && stored) {
      const t = SerialTree.of(
        stored.filter((e) => !e.extra),
        extras,
      );
      if (t.hash === hash) {
        depthOf.set(hash, storedDepth(db, hash) ?? 0);
        return t;
      }
    }
    return fromGit(sha);
  };
  const empty = SerialTree.of([], extras);
  depthOf.set(empty.hash, storedDepth(db, empty.hash) ?? 0);
  for (const c of parsed) {
    const first = c.parents[0];
    let parent = first === undefined ? empty : live.get(first);
    if (!parent && first !== undefined) {
      parent = await knownTree(first);
      hashOf.set(first, parent.hash);
    }
    if (first !== undefined) {
      const left = children.get(first)! - 1;
      children.set(first, left);
      if (!left) live.delete(first);
    }
    const touched: TreeChange[] = [];
    for (const [p, mode, blob] of c.changes) {
      if (!matches(p)) continue;
      touched.push(mode === EMPTY_MODE || mode === "160000" || mode === "040000" ? [p] : [p, mode, blob]);
    }
    const tree = touched.length ? parent!.apply(touched) : parent!;
    if (tree !== parent && !depthOf.has(tree.hash)) {
      const have = storedDepth(db, tree.hash);
      const depth = have ?? (first === undefined ? 0 : depthOf.get(parent!.hash)! + 1);
      if (have === undefined) toStore.set(tree.hash, depth > MAX_DEPTH || first === undefined ? snapshot(tree.hash, tree.ownEntries(), extras) : { hash: tree.hash, base: parent!.hash, depth, body: touched, files: tree.files });
      depthOf.set(tree.hash, have ?? (depth > MAX_DEPTH ? 0 : depth));
    }
    hashOf.set(c.sha, tree.hash);
    if (children.get(c.sha)) live.set(c.sha, tree);
  }
  // The tree of a root commit that has no kconfig file is stored when a commit has it or builds on it.
  if (storedDepth(db, empty.hash) === undefined && ([...hashOf.values()].includes(empty.hash) || [...toStore.values()].some((t) => t.base === empty.hash)))
    toStore.set(empty.hash, snapshot(empty.hash, [], extras));

  // describe, against the project's own tags
  const tags = tagsForDescribe(id, refs);
  const tagsFp = crypto
    .createHash("sha256")
    .update(JSON.stringify(tags.map((t) => [t.refname, t.commit, t.annotated, t.taggerDate, t.name]).sort()))
    .digest("hex");
  const redescribeAll = !full && state!.tags_fingerprint !== tagsFp;
  const fresh = new Map<string, DescribeCommit>();
  for (const c of parsed) fresh.set(c.sha, { parents: c.parents, date: c.date, abbrev: abbrevOf.get(c.sha) ?? c.sha.slice(0, 7) });
  const oldCommit = db.prepare("SELECT parents, date, abbrev FROM revdb_commits WHERE project = ? AND sha = ?");
  const loaded = new Map<string, DescribeCommit>();
  const getCommit = (sha: string): DescribeCommit | undefined => {
    const f = fresh.get(sha) ?? loaded.get(sha);
    if (f || full) return f;
    const row = oldCommit.get(id, sha) as { parents: string; date: number; abbrev: string } | undefined;
    if (!row) return undefined;
    const c = { parents: row.parents ? row.parents.split(" ") : [], date: row.date, abbrev: row.abbrev };
    loaded.set(sha, c);
    return c;
  };
  const describer = new Describer(getCommit, tags);
  const oldShas = redescribeAll ? (db.prepare("SELECT sha, describe FROM revdb_commits WHERE project = ?").all(id) as Array<{ sha: string; describe: string }>) : [];
  const total = parsed.length + oldShas.length;
  const describes = new Map<string, string>();
  let done = 0;
  const step = async () => {
    if (++done % 500 === 0) {
      opts.onProgress?.({ done, total });
      await yieldToEventLoop();
    }
  };
  for (const c of parsed) {
    describes.set(c.sha, describer.describe(c.sha));
    await step();
  }
  const redescribed: Array<[string, string]> = [];
  for (const o of oldShas) {
    const d = describer.describe(o.sha);
    if (d !== o.describe) redescribed.push([o.sha, d]);
    await step();
  }
  opts.onProgress?.({ done: total, total });

  db.transaction(() => {
    if (full || !tips.length) db.prepare("DELETE FROM revdb_commits WHERE project = ?").run(id);
    const del = db.prepare("DELETE FROM revdb_commits WHERE project = ? AND sha = ?");
    for (const sha of gone) del.run(id, sha);
    const ins = db.prepare("INSERT OR IGNORE INTO revdb_commits (project, sha, parents, date, abbrev, describe, kconfig_hash) VALUES (?, ?, ?, ?, ?, ?, ?)");
    for (const c of parsed) ins.run(id, c.sha, c.parents.join(" "), c.date, fresh.get(c.sha)!.abbrev, describes.get(c.sha)!, hashOf.get(c.sha)!);
    const upd = db.prepare("UPDATE revdb_commits SET describe = ? WHERE project = ? AND sha = ?");
    for (const [sha, d] of redescribed) upd.run(d, id, sha);
    for (const t of toStore.values()) writeTree(db, t);
    db.prepare("DELETE FROM revdb_refs WHERE project = ?").run(id);
    const insRef = db.prepare("INSERT OR REPLACE INTO revdb_refs (project, kind, name, sha, annotated, tagger_date, embedded_name) VALUES (?, ?, ?, ?, ?, ?, ?)");
    for (const r of refs) {
      const kind = r.kind === "branch" && r.name === "REMOTE_HEAD" ? "head" : r.kind;
      insRef.run(id, kind, r.name, r.commit, r.annotated ? 1 : 0, r.taggerDate, r.embeddedName ?? null);
    }
    db.prepare("UPDATE revdb_commits SET named = 0 WHERE project = ? AND named = 1").run(id);
    db.prepare("UPDATE revdb_commits SET named = 1 WHERE project = ? AND sha IN (SELECT sha FROM revdb_refs WHERE project = ? AND kind IN ('tag', 'branch'))").run(id, id);
    db.prepare(
      `INSERT INTO revdb_state (project, recipe_fingerprint, tags_fingerprint, generation) VALUES (?, ?, ?, 1)
       ON CONFLICT(project) DO UPDATE SET recipe_fingerprint = excluded.recipe_fingerprint, tags_fingerprint = excluded.tags_fingerprint, generation = generation + 1`,
    ).run(id, recipeFp, tagsFp);
  })();

  const totalCommits = db.prepare("SELECT COUNT(*) FROM revdb_commits WHERE project = ?").pluck().get(id) as number;
  return { newCommits: parsed.length, totalCommits, redescribed: redescribed.length, removed: full || !tips.length ? 0 : gone.length };
}
