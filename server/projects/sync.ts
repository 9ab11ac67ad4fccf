import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Db } from "../core/db";
import { KbsError } from "../core/errors";
import { GitError } from "../gitref/git";
import type { GitRef, ProjectRef } from "../gitref/gitref";
import { dirFiles, tarballFiles } from "../gitref/sources";
import { log } from "../core/log";
import { counter, histogram } from "../core/metrics";
import type { KconfigBundleStore } from "../revdb/bundles";
import { indexProject } from "../revdb/indexer";
import type { RevDb } from "../revdb/revdb";
import { missingSources } from "./kconfig-sources";
import { externalEntries, resolveExternal, type External } from "./externals";
import type { KconfigEntry } from "../revdb/kconfig-tree";
import { entryIn } from "../core/recipe";
import { lockHolderAlive, type Project, type ProjectRegistry } from "./registry";

export interface SyncProgress {
  phase: "fetch" | "index" | "bundles" | "tools";
  done: number;
  total: number;
}

export interface SyncResult {
  project: string;
  newCommits: number;
  /** commits dropped because no ref reaches them any more */
  removedCommits: number;
  totalCommits: number;
  bundlesWritten: number;
  /** refs from the remote whose names kbs refuses */
  skippedRefs: string[];
}

const syncsTotal = counter("kbs_project_syncs_total", "Project syncs that ended, by project and result", ["project", "result"]);
const syncDuration = histogram("kbs_project_sync_duration_seconds", "Wall time of project syncs", ["project"], [0.1, 0.3, 1, 3, 10, 30, 100, 300, 1000]);

/** Another process (or this one) is syncing the project. */
export class SyncBusyError extends KbsError {
  constructor(id: string, pid: number, startedAt: number) {
    super("conflict", "sync_running", `A sync of '${id}' is already running (pid ${pid}, started ${new Date(startedAt).toISOString()}); wait for it to finish, then try again.`);
  }
}

/** A sync that failed for a reason a person can act on (stored as the project's sync message). */
export class SyncError extends Error {}

const builtinMessage = (p: Project) => `${p.name} v${p.upstream.kind === "builtin" ? p.upstream.version : 0} (built into kbs)`;

/** sha256 over a built-in tree's files and version: unchanged means nothing to import. */
export async function builtinSourceHash(dir: string, version: number): Promise<string> {
  const h = crypto.createHash("sha256").update(`v${version}\n`);
  for await (const f of dirFiles(dir, ["project.json"])) h.update(`${f.mode} ${f.path}\0`).update(crypto.createHash("sha1").update(f.data).digest());
  return h.digest("hex");
}

/**
 * `kbs sync`: fetch (or import) -> index -> bundles, one sync per project at a time
 * across processes (a lock row in SQLite, taken over when its process is gone).
 * Progress and the outcome are kept on the project for the API and the portal.
 */
/**
 * A sync writes the kconfig bundles of the newest named revisions (tags, branch heads)
 * this many distinct trees, so the first session on a release starts at once; every
 * other tree's bundle is written the first time something needs it (bundles.ensure).
 */
const BUNDLES_AT_SYNC = 20;

/** Work a sync ends with, once bundles exist (the terminal part prebuilds the newest trees' Kconfig tools). */
export type SyncFinisher = (projectId: string, progress: (done: number, total: number) => void) => Promise<void>;

export class SyncService {
  private running = new Map<string, Promise<SyncResult>>();
  private readonly finishers: SyncFinisher[] = [];

  constructor(
    private deps: { db: Db; projects: ProjectRegistry; gitref: GitRef; revdb: RevDb; bundles: KconfigBundleStore },
  ) {}

  /** Run `f` as a sync's last phase ("tools"); its failure is logged, the sync still succeeds. */
  onSynced(f: SyncFinisher): void {
    this.finishers.push(f);
  }

  isRunning(id: string): boolean {
    return this.running.has(id);
  }

  /** Start a sync in the background (the API, start-up); a running one is reused. Failures end up in the project's sync state. */
  start(id: string): Promise<SyncResult | undefined> {
    const existing = this.running.get(id);
    const p = existing ?? this.sync(id);
    return p.catch((e: Error) => {
      if (!(e instanceof SyncBusyError)) log.warn({ project: id, err: e.message }, "sync failed");
      return undefined;
    });
  }

  async sync(id: string, onProgress?: (p: SyncProgress) => void): Promise<SyncResult> {
    const project = this.deps.projects.require(id);
    this.lock(id);
    const run = this.run(project, onProgress);
    this.running.set(id, run);
    try {
      return await run;
    } finally {
      this.running.delete(id);
      this.deps.db.prepare("DELETE FROM project_sync_locks WHERE project = ? AND pid = ?").run(id, process.pid);
    }
  }

  /** Wait until nobody syncs `id` (for built-ins imported at start by racing processes). */
  async waitIdle(id: string, timeoutMs = 120_000): Promise<void> {
    const t0 = Date.now();
    for (;;) {
      const row = this.deps.db.prepare("SELECT pid, host FROM project_sync_locks WHERE project = ?").get(id) as { pid: number; host: string } | undefined;
      if (!row || !lockHolderAlive(row.pid, row.host) || (row.pid === process.pid && !this.running.has(id))) return;
      if (Date.now() - t0 > timeoutMs) throw new SyncError(`gave up waiting for the sync of '${id}' by pid ${row.pid}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  private lock(id: string): void {
    const { db } = this.deps;
    db.transaction(() => {
      const row = db.prepare("SELECT pid, host, started_at FROM project_sync_locks WHERE project = ?").get(id) as
        | { pid: number; host: string; started_at: number }
        | undefined;
      const mine = row?.pid === process.pid && row.host === os.hostname();
      if (row && ((mine && this.running.has(id)) || (!mine && lockHolderAlive(row.pid, row.host)))) throw new SyncBusyError(id, row.pid, row.started_at);
      if (row) log.warn({ project: id, pid: row.pid }, "taking over the sync lock of a process that is gone");
      db.prepare("INSERT OR REPLACE INTO project_sync_locks (project, pid, host, started_at) VALUES (?, ?, ?, ?)").run(id, process.pid, os.hostname(), Date.now());
    }).immediate();
  }

  private async run(project: Project, onProgress?: (p: SyncProgress) => void): Promise<SyncResult> {
    const { projects, gitref, revdb, bundles } = this.deps;
    const id = project.id;
    const started = Date.now();
    projects.setSync(id, { state: "syncing", lastTried: started, message: null, progress: { phase: "fetch", done: 0, total: 0 } });
    let lastWrite = 0;
    const progress = (p: SyncProgress) => {
      onProgress?.(p);
      if (Date.now() - lastWrite > 250 || p.done === p.total) {
        lastWrite = Date.now();
        projects.setSync(id, { progress: p });
      }
    };
    try {
      progress({ phase: "fetch", done: 0, total: 0 });
      const fetched = await this.fetch(project, started, progress);
      const skippedRefs = fetched.skippedRefs;
      const refs = fetched.refs ?? (await gitref.refs(id));
      // Imported trees were checked for the entry file before their commit was made.
      if (project.upstream.kind === "git") await this.checkEntry(project, refs);
      const externals = await this.externals(project);
      const indexed = await indexProject({ db: this.deps.db, gitref, projectId: id, recipe: project.recipe, refs, externals, onProgress: (p) => progress({ phase: "index", ...p }) });
      const hashes = revdb.hashes(id);
      const missing = revdb.namedHashes(id, BUNDLES_AT_SYNC).filter((h) => !bundles.has(h)).map((hash) => {
        const entries = revdb.treeEntries(hash);
        if (!entries) throw new SyncError(`the index has no tree for kconfig hash ${hash}; sync it again`);
        return { hash, entries };
      });
      await bundles.build(missing, project.recipe.extraFiles, (done) => progress({ phase: "bundles", done, total: missing.length }));
      const bundlesWritten = missing.length;
      await this.checkSources(project, refs);
      for (const finish of this.finishers) {
        await finish(id, (done, total) => progress({ phase: "tools", done, total })).catch((e: unknown) => log.warn({ project: id, err: e }, "a sync's last phase failed"));
      }
      const message = `${indexed.totalCommits} revisions, ${hashes.length} distinct kconfig trees${skippedRefs.length ? `; skipped ${skippedRefs.length} ref(s) with unusable names` : ""}`;
      projects.setSync(id, { state: "ok", lastOk: Date.now(), message, progress: null });
      syncsTotal.inc({ project: id, result: "ok" });
      syncDuration.observe({ project: id }, (Date.now() - started) / 1000);
      return { project: id, newCommits: indexed.newCommits, removedCommits: indexed.removed, totalCommits: indexed.totalCommits, bundlesWritten, skippedRefs };
    } catch (e) {
      const message = e instanceof SyncError ? e.message : `sync failed: ${(e as Error).message}`;
      projects.setSync(id, { state: "failed", message, progress: null });
      syncsTotal.inc({ project: id, result: "failed" });
      throw e instanceof SyncError ? e : new SyncError(message);
    }
  }

  /** Bring the project's refs into gitref; returns the refs when the fetch listed them, and the remote refs skipped for their names. */
  private async fetch(project: Project, started: number, progress: (p: SyncProgress) => void): Promise<{ refs?: ProjectRef[]; skippedRefs: string[] }> {
    const { gitref, projects } = this.deps;
    const up = project.upstream;
    if (up.kind === "git") {
      try {
        return await gitref.fetch(project.id, up.url, (p) => progress({ phase: "fetch", ...p }));
      } catch (e) {
        if (e instanceof GitError) throw new SyncError(`upstream unreachable, last tried ${new Date(started).toISOString()}: ${e.message.replace(/^git fetch: /, "")}`);
        throw e;
      }
    }
    const ref = up.kind === "tarball" ? `refs/tags/${project.id}/${up.revName}` : `refs/tags/${project.id}/v${up.version}`;
    const sourceHash =
      up.kind === "tarball" ? (() => {
        const st = fs.statSync(up.path, { throwIfNoEntry: false });
        if (!st) throw new SyncError(`the source tarball ${up.path} is gone; put it back or add the project again`);
        return `${st.size}:${st.mtimeMs}:${up.revName}`;
      })() : await builtinSourceHash(up.dir, up.version);
    const refs = await gitref.refs(project.id);
    const tagName = ref.replace(`refs/tags/${project.id}/`, "");
    if (projects.sourceHash(project.id) === sourceHash && refs.some((r) => r.kind === "tag" && r.name === tagName)) return { refs, skippedRefs: [] };
    progress({ phase: "fetch", done: 0, total: 1 });
    try {
      if (up.kind === "tarball") {
        await gitref.importTree(tarballFiles(up.path), {
          refs: [ref],
          message: `${up.revName} (source tarball)`,
          requiredPaths: project.recipe.entry,
          stripTopDir: true,
          whatForErrors: path.basename(up.path),
        });
      } else {
        await gitref.importTree(dirFiles(up.dir, ["project.json"]), {
          refs: [`refs/heads/${project.id}/main`, ref],
          message: builtinMessage(project),
          requiredPaths: project.recipe.entry,
          whatForErrors: `the built-in tree ${up.dir}`,
        });
      }
    } catch (e) {
      throw new SyncError((e as Error).message);
    }
    projects.setSourceHash(project.id, sourceHash);
    progress({ phase: "fetch", done: 1, total: 1 });
    return { skippedRefs: [] };
  }

  /** Fetch the project's external trees, resolve their revisions again (a branch moves) and return their kconfig entries. */
  private async externals(project: Project): Promise<KconfigEntry[]> {
    if (!project.externals.length) return [];
    const resolved: External[] = [];
    for (const ext of project.externals) {
      try {
        resolved.push(await resolveExternal(this.deps.gitref, project.id, project.recipe, ext));
      } catch (e) {
        throw e instanceof KbsError ? new SyncError(e.message) : e;
      }
    }
    this.deps.projects.setExternals(project.id, resolved);
    return externalEntries(this.deps.gitref, project.recipe, resolved);
  }

  /** The head revision's kconfig tree must have every file its Kconfig files source: else name the first few. */
  private async checkSources(project: Project, refs: ProjectRef[]): Promise<void> {
    const head = headRef(refs);
    if (!head) return;
    const rev = this.deps.revdb.resolve(project.id, head.commit);
    const files = new Set((this.deps.revdb.treeEntries(rev.kconfigHash) ?? []).map((e) => e.path));
    const entry = entryIn(project.recipe, (f) => files.has(f));
    if (!entry) return;
    const missing = missingSources(await this.deps.bundles.ensure(rev.kconfigHash), entry);
    if (!missing.length) return;
    const shown = missing.slice(0, 5).map((m) => `${m.from}:${m.line} sources ${m.path}`);
    throw new SyncError(
      `${project.id} ${rev.describe}: ${shown.join("; ")}${missing.length > 5 ? `; and ${missing.length - 5} more` : ""} — not in the kconfig tree. The '${project.recipe.id}' recipe's kconfigPaths do not cover ${missing.length === 1 ? "it" : "them"} (or the tree is broken at this revision).`,
    );
  }

  /** A tree without the recipe's entry Kconfig is the wrong project or the wrong recipe: say so before indexing. */
  private async checkEntry(project: Project, refs: ProjectRef[]): Promise<void> {
    if (!refs.length) throw new SyncError(`${project.id}: the upstream has no branches or tags to index`);
    const head = headRef(refs)!;
    const indexedBefore = this.deps.db.prepare("SELECT 1 FROM revdb_commits WHERE project = ? AND sha = ?").get(project.id, head.commit);
    if (indexedBefore) return;
    for (const candidate of project.recipe.entry) if (await this.deps.gitref.hasPath(head.commit, candidate)) return;
    const where = head.name === "REMOTE_HEAD" ? "the default branch" : `${head.kind} ${head.name}`;
    throw new SyncError(
      `${project.id}: no ${project.recipe.entry.join(" or ")} on ${where} (${head.commit.slice(0, 12)}): the '${project.recipe.id}' recipe expects its top Kconfig file there. Check the URL, or add the project with the recipe that fits the tree.`,
    );
  }
}

/** The ref whose tree stands for the project: the remote's default branch, else main/master, else any branch, else the first ref. */
function headRef(refs: ProjectRef[]): ProjectRef | undefined {
  const branch = (n: string) => refs.find((r) => r.kind === "branch" && r.name === n);
  return branch("REMOTE_HEAD") ?? branch("main") ?? branch("master") ?? refs.find((r) => r.kind === "branch") ?? refs[0];
}
