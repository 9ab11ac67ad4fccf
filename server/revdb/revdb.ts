import type { Db } from "../core/db";
import { printableName, refNameProblem } from "../gitref/refname";
import type { KconfigEntry } from "./kconfig-tree";
import { migrateRevdb } from "./schema";
import { invalid, notFound } from "../core/errors";
import type { Revision } from "../core/revision";
import { readTree } from "./tree-store";

interface Row {
  sha: string;
  describe: string;
  date: number;
  kconfig_hash: string;
}

const HEX = /^[0-9a-f]{4,40}$/i;
const MAX_CLOSE = 5;

/**
 * The commit -> describe -> kconfig hash index, served from SQLite. Written by the
 * indexer (indexer.ts) during sync; read here by the API, sessions and builds.
 */
export class RevDb {
  /** per project, what every listing needs, cached until the index's generation moves */
  private listCache = new Map<string, { generation: number; counts: Map<string, number>; refsBySha: Map<string, string[]> }>();

  constructor(readonly db: Db) {
    migrateRevdb(db);
  }

  count(projectId: string): number {
    return this.db.prepare("SELECT COUNT(*) FROM revdb_commits WHERE project = ?").pluck().get(projectId) as number;
  }

  /** Distinct kconfig hashes of a project. */
  hashes(projectId: string): string[] {
    return this.db.prepare("SELECT DISTINCT kconfig_hash FROM revdb_commits WHERE project = ?").pluck().all(projectId) as string[];
  }

  /** Distinct kconfig hashes of the project's newest named revisions (tags, branch heads), newest first, at most `limit`. */
  namedHashes(projectId: string, limit: number): string[] {
    return this.db
      .prepare("SELECT kconfig_hash FROM revdb_commits WHERE project = ? AND named = 1 GROUP BY kconfig_hash ORDER BY MAX(date) DESC LIMIT ?")
      .pluck()
      .all(projectId, limit) as string[];
  }

  /** The newest named commits (tags, branch heads), newest first. */
  namedCommits(projectId: string, limit: number): string[] {
    return this.db.prepare("SELECT sha FROM revdb_commits WHERE project = ? AND named = 1 ORDER BY date DESC LIMIT ?").pluck().all(projectId, limit) as string[];
  }

  /** A project that has a commit with this kconfig hash (its recipe's extras are in the tree). */
  projectWithHash(hash: string): string | undefined {
    return this.db.prepare("SELECT project FROM revdb_commits WHERE kconfig_hash = ? LIMIT 1").pluck().get(hash) as string | undefined;
  }

  /**
   * The project's commits in commit order (parents first, topological), folded into runs
   * of consecutive commits with the same kconfig tree, each with its first and last
   * commit: a tree that comes back later (a revert) starts a new run. For symbol history.
   */
  treeRuns(projectId: string): Array<{ hash: string; first: { sha: string; describe: string }; last: { sha: string; describe: string } }> {
    const rows = this.db.prepare("SELECT sha, describe, kconfig_hash FROM revdb_commits WHERE project = ? ORDER BY id").raw().all(projectId) as Array<[string, string, string]>;
    const runs: Array<{ hash: string; first: { sha: string; describe: string }; last: { sha: string; describe: string } }> = [];
    for (const [sha, describe, hash] of rows) {
      const run = runs[runs.length - 1];
      if (run?.hash === hash) run.last = { sha, describe };
      else runs.push({ hash, first: { sha, describe }, last: { sha, describe } });
    }
    return runs;
  }

  /** Bumped by every index run of the project: what caches over its revisions key on. */
  generation(projectId: string): number {
    return (this.db.prepare("SELECT generation FROM revdb_state WHERE project = ?").pluck().get(projectId) as number | undefined) ?? 0;
  }

  /**
   * Forget a project's index (`kbs project remove`). Returns the kconfig hashes no other
   * project has any more: their bundles may go, unless something else still needs them.
   */
  removeProject(projectId: string): string[] {
    const orphans = this.db
      .prepare("SELECT DISTINCT kconfig_hash FROM revdb_commits c WHERE project = ? AND NOT EXISTS (SELECT 1 FROM revdb_commits o WHERE o.project != c.project AND o.kconfig_hash = c.kconfig_hash)")
      .pluck()
      .all(projectId) as string[];
    this.db.transaction(() => {
      for (const t of ["revdb_commits", "revdb_refs", "revdb_state"]) this.db.prepare(`DELETE FROM ${t} WHERE project = ?`).run(projectId);
    })();
    this.listCache.delete(projectId);
    return orphans;
  }

  /** The kconfig tree behind a hash (tree files and recipe extras). */
  treeEntries(hash: string): KconfigEntry[] | undefined {
    return readTree(this.db, hash);
  }

  /** Revisions, named ones (tags, branch heads) first, newest first; `q` matches a tag or branch name (part of it), a describe string or sha (their start). */
  list(projectId: string, opts: { q?: string; limit?: number } = {}): Revision[] {
    const limit = opts.limit ?? -1;
    const q = opts.q?.trim();
    let rows: Row[];
    if (q) {
      // A sha prefix, a describe prefix, or part of a tag/branch name. Few matches: collect them
      // from the indexes and sort; many: walk the listing order and stop at `limit`.
      const like = `%${q.replace(/[\\%_]/g, (c) => "\\" + c)}%`;
      const hex = /^[0-9a-f]+$/i.test(q) ? q.toLowerCase() : "-";
      const args = { p: projectId, lo: hex, hi: hex + "g", dlo: q, dhi: q + "\uffff", like };
      const shaMatch = "project = @p AND sha >= @lo AND sha < @hi";
      const describeMatch = "project = @p AND describe >= @dlo AND describe < @dhi";
      const refMatch = "r.project = @p AND r.kind != 'head' AND r.name LIKE @like ESCAPE '\\'";
      const many =
        (this.db.prepare(`SELECT (SELECT COUNT(*) FROM revdb_commits WHERE ${describeMatch}) + (SELECT COUNT(*) FROM revdb_commits WHERE ${shaMatch})`).pluck().get(args) as number) >
        2000;
      if (many) {
        rows = this.db
          .prepare(
            `SELECT sha, describe, date, kconfig_hash FROM revdb_commits
             WHERE project = @p AND ((sha >= @lo AND sha < @hi) OR (describe >= @dlo AND describe < @dhi) OR sha IN (SELECT r.sha FROM revdb_refs r WHERE ${refMatch}))
             ORDER BY named DESC, date DESC, id DESC LIMIT @limit`,
          )
          .all({ ...args, limit }) as Row[];
      } else {
        const found = this.db
          .prepare(
            `SELECT id, named, date FROM revdb_commits WHERE ${shaMatch}
             UNION ALL SELECT id, named, date FROM revdb_commits WHERE ${describeMatch}
             UNION ALL SELECT c.id, c.named, c.date FROM revdb_refs r CROSS JOIN revdb_commits c ON c.project = r.project AND c.sha = r.sha WHERE ${refMatch}`,
          )
          .raw()
          .all(args) as Array<[number, number, number]>;
        const unique = [...new Map(found.map((r) => [r[0], r])).values()].sort((a, b) => b[1] - a[1] || b[2] - a[2] || b[0] - a[0]);
        const ids = (limit < 0 ? unique : unique.slice(0, limit)).map((r) => r[0]);
        rows = this.db
          .prepare("SELECT sha, describe, date, kconfig_hash FROM revdb_commits WHERE id IN (SELECT value FROM json_each(?)) ORDER BY named DESC, date DESC, id DESC")
          .all(JSON.stringify(ids)) as Row[];
      }
    } else {
      rows = this.db
        .prepare("SELECT sha, describe, date, kconfig_hash FROM revdb_commits WHERE project = ? ORDER BY named DESC, date DESC, id DESC LIMIT ?")
        .all(projectId, limit) as Row[];
    }
    return this.toRevisions(projectId, rows);
  }

  /**
   * A revision by full or short sha, tag, branch, describe string, `tag:x`/`branch:x`,
   * or HEAD (the remote's default branch). Unknown: 404 with close matches; a short sha
   * or name that fits several: 400; a hostile name: 400 bad_ref.
   */
  resolve(projectId: string, rev: string): Revision {
    const name = rev.trim();
    const m = /^(tag|branch):(.+)$/.exec(name);
    const refName = m ? m[2]! : name;
    const why = refNameProblem(refName);
    if (why) throw invalid("bad_ref", `'${printableName(rev)}' is not a usable revision name: it ${why}. Use a tag, a branch, a describe string or a commit sha.`);
    const one = (sha: string) => this.toRevisions(projectId, [this.row(projectId, sha)!])[0]!;
    if (/^[0-9a-f]{40}$/i.test(name) && this.row(projectId, name.toLowerCase())) return one(name.toLowerCase());
    const kinds = m ? [m[1]!] : ["tag", "branch"];
    for (const kind of kinds) {
      const sha = this.db.prepare("SELECT sha FROM revdb_refs WHERE project = ? AND kind = ? AND name = ?").pluck().get(projectId, kind, refName) as string | undefined;
      if (sha && this.row(projectId, sha)) return one(sha);
    }
    if (!m && name === "HEAD") {
      const head = this.head(projectId);
      if (head) return one(head);
    }
    if (!m) {
      const byDescribe = this.db.prepare("SELECT sha FROM revdb_commits WHERE project = ? AND describe = ? LIMIT 2").pluck().all(projectId, name) as string[];
      if (byDescribe.length === 1) return one(byDescribe[0]!);
      // a describe string made elsewhere (another abbreviation length): its -g<sha> part
      const g = /-g([0-9a-f]{4,40})$/i.exec(name);
      const prefix = HEX.test(name) ? name : g?.[1];
      if (prefix) {
        const shas = this.db
          .prepare("SELECT sha FROM revdb_commits WHERE project = ? AND sha >= ? AND sha < ? LIMIT 10")
          .pluck()
          .all(projectId, prefix.toLowerCase(), prefix.toLowerCase() + "g") as string[];
        if (shas.length === 1) return one(shas[0]!);
        if (shas.length > 1) {
          throw invalid("ambiguous_revision", `'${rev}' matches ${shas.length === 10 ? "10 or more" : shas.length} commits of ${projectId}; give more characters of the sha.`, {
            matches: this.toRevisions(projectId, shas.map((s) => this.row(projectId, s)!)).map(({ sha, describe }) => ({ sha, describe })),
          });
        }
      }
    }
    const close = this.closeMatches(projectId, refName);
    throw notFound(
      "unknown_revision",
      `${projectId} has no revision '${rev}'${close.length ? `; did you mean ${close.map((c) => c.name).join(", ")}?` : ". Sync the project if the revision is new upstream, or pick one from the project's revision list."}`,
      { closeMatches: close },
    );
  }

  /** The commit the remote's HEAD points at, else main/master, else the newest named commit. */
  head(projectId: string): string | undefined {
    const q = this.db.prepare("SELECT sha FROM revdb_refs WHERE project = ? AND kind = ? AND name = ?").pluck();
    return (
      (q.get(projectId, "head", "REMOTE_HEAD") as string | undefined) ??
      (q.get(projectId, "branch", "main") as string | undefined) ??
      (q.get(projectId, "branch", "master") as string | undefined) ??
      (this.db.prepare("SELECT sha FROM revdb_commits WHERE project = ? ORDER BY named DESC, date DESC, id DESC LIMIT 1").pluck().get(projectId) as string | undefined)
    );
  }

  private row(projectId: string, sha: string): Row | undefined {
    return this.db.prepare("SELECT sha, describe, date, kconfig_hash FROM revdb_commits WHERE project = ? AND sha = ?").get(projectId, sha) as Row | undefined;
  }

  /** Tag and branch names nearest to `name` (edit distance), for "did you mean". */
  private closeMatches(projectId: string, name: string): Array<{ name: string; sha: string; describe: string }> {
    const refs = this.db
      .prepare("SELECT r.kind, r.name, r.sha, c.describe FROM revdb_refs r JOIN revdb_commits c ON c.project = r.project AND c.sha = r.sha WHERE r.project = ? AND r.kind != 'head'")
      .all(projectId) as Array<{ kind: string; name: string; sha: string; describe: string }>;
    const lower = name.toLowerCase();
    return refs
      .map((r) => ({ r, d: r.name.toLowerCase().includes(lower) || lower.includes(r.name.toLowerCase()) ? 0 : editDistance(lower, r.name.toLowerCase()) }))
      .filter(({ r, d }) => d <= Math.max(2, Math.floor(r.name.length / 3)))
      .sort((a, b) => a.d - b.d || (a.r.name < b.r.name ? -1 : 1))
      .slice(0, MAX_CLOSE)
      .map(({ r }) => ({ name: r.kind === "tag" ? r.name : `branch:${r.name}`, sha: r.sha, describe: r.describe }));
  }

  /** Revisions per kconfig hash and ref names per commit, recomputed only after an index run. */
  private listing(projectId: string): { counts: Map<string, number>; refsBySha: Map<string, string[]> } {
    const generation = (this.db.prepare("SELECT generation FROM revdb_state WHERE project = ?").pluck().get(projectId) as number | undefined) ?? 0;
    const cached = this.listCache.get(projectId);
    if (cached && cached.generation === generation) return cached;
    const counts = new Map<string, number>();
    for (const r of this.db.prepare("SELECT kconfig_hash AS h, COUNT(*) AS n FROM revdb_commits WHERE project = ? GROUP BY kconfig_hash").all(projectId) as Array<{ h: string; n: number }>) {
      counts.set(r.h, r.n);
    }
    const refsBySha = new Map<string, string[]>();
    for (const r of this.db.prepare("SELECT kind, name, sha FROM revdb_refs WHERE project = ? AND kind != 'head' ORDER BY kind DESC, name").all(projectId) as Array<{
      kind: string;
      name: string;
      sha: string;
    }>) {
      const list = refsBySha.get(r.sha) ?? [];
      list.push(`${r.kind}:${r.name}`);
      refsBySha.set(r.sha, list);
    }
    const entry = { generation, counts, refsBySha };
    this.listCache.set(projectId, entry);
    return entry;
  }

  private toRevisions(projectId: string, rows: Row[]): Revision[] {
    if (!rows.length) return [];
    const { counts, refsBySha } = this.listing(projectId);
    return rows.map((r) => ({
      project: projectId,
      sha: r.sha,
      describe: r.describe,
      date: new Date(r.date * 1000).toISOString(),
      refs: refsBySha.get(r.sha) ?? [],
      kconfigHash: r.kconfig_hash,
      sameKconfigCount: (counts.get(r.kconfig_hash) ?? 1) - 1,
    }));
  }
}

function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length]!;
}
