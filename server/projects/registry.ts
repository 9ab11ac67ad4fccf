import os from "node:os";
import { z } from "zod";
import { migrate, type Db } from "../core/db";
import { printableName } from "../gitref/refname";
import { log } from "../core/log";
import { getRecipe, loadRecipes, type Recipe } from "../core/recipe";
import { conflict, invalid, notFound } from "../core/errors";
import { externalsEnv, type External } from "./externals";

export const ProjectIdSchema = z.string().regex(/^[a-z][a-z0-9-]{0,39}$/, "a project id is 1-40 characters: lower-case letters, digits and '-', starting with a letter");

export type Upstream = { kind: "git"; url: string } | { kind: "tarball"; path: string; revName: string } | { kind: "builtin"; dir: string; version: number };

export type SyncState = "never" | "syncing" | "ok" | "failed";

export interface SyncStatus {
  state: SyncState;
  message?: string;
  /** ISO 8601 */
  lastTried?: string;
  lastOk?: string;
  progress?: { phase: string; done: number; total: number };
}

export interface Project {
  id: string;
  name: string;
  /** The recipe, its kconfigEnv naming the project's external trees (externals.ts) when it has any. */
  recipe: Recipe;
  /** External trees (recipe `externals`): in the kconfig tree under external/<name>/ and in every build. */
  externals: External[];
  upstream: Upstream;
  sync: SyncStatus;
  revisionCount: number;
}

interface Row {
  id: string;
  name: string;
  recipe: string;
  upstream: string;
  sync_state: SyncState;
  sync_message: string | null;
  last_tried: number | null;
  last_ok: number | null;
  progress: string | null;
  lock_pid: number | null;
  lock_host: string | null;
  externals: string | null;
}

const iso = (ms: number | null) => (ms ? new Date(ms).toISOString() : undefined);

/** Whether the process that took a sync lock is still there (same host: ask the kernel). */
export function lockHolderAlive(pid: number | null, host: string | null): boolean {
  if (!pid) return false;
  if (host !== os.hostname()) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The projects kbs serves, in SQLite (table `projects`, plus `project_sync_locks` for the sync service). */
export class ProjectRegistry {
  constructor(
    readonly db: Db,
    private revisionCount: (id: string) => number,
  ) {
    migrate(db, {
      part: "projects",
      migrations: [
        `CREATE TABLE projects (
           id TEXT PRIMARY KEY,
           name TEXT NOT NULL,
           recipe TEXT NOT NULL,
           upstream TEXT NOT NULL,
           created_at INTEGER NOT NULL,
           sync_state TEXT NOT NULL DEFAULT 'never',
           sync_message TEXT,
           last_tried INTEGER,
           last_ok INTEGER,
           progress TEXT,
           source_hash TEXT
         );
         CREATE TABLE project_sync_locks (
           project TEXT PRIMARY KEY,
           pid INTEGER NOT NULL,
           host TEXT NOT NULL,
           started_at INTEGER NOT NULL
         );`,
        // Ids an operator removed: a pre-registered upstream stays removed across restarts.
        `CREATE TABLE projects_removed (id TEXT PRIMARY KEY, removed_at INTEGER NOT NULL);`,
        // External trees (JSON External[]), recipe `externals`.
        `ALTER TABLE projects ADD COLUMN externals TEXT;`,
      ],
    });
  }

  private rows(where = "", ...args: unknown[]): Row[] {
    return this.db
      .prepare(
        `SELECT p.*, l.pid AS lock_pid, l.host AS lock_host FROM projects p LEFT JOIN project_sync_locks l ON l.project = p.id ${where} ORDER BY p.rowid`,
      )
      .all(...args) as Row[];
  }

  private toProject(r: Row): Project | undefined {
    const recipe = getRecipe(r.recipe);
    if (!recipe) {
      log.warn({ project: r.id, recipe: r.recipe }, "project skipped: its recipe is not shipped any more");
      return undefined;
    }
    let sync: SyncStatus = {
      state: r.sync_state,
      ...(r.sync_message ? { message: r.sync_message } : {}),
      ...(r.last_tried ? { lastTried: iso(r.last_tried) } : {}),
      ...(r.last_ok ? { lastOk: iso(r.last_ok) } : {}),
      ...(r.progress ? { progress: JSON.parse(r.progress) as SyncStatus["progress"] } : {}),
    };
    if (r.sync_state === "syncing" && !lockHolderAlive(r.lock_pid, r.lock_host)) {
      sync = { ...sync, state: "failed", message: `the last sync was interrupted (started ${sync.lastTried ?? "?"}); run 'kbs sync ${r.id}' again`, progress: undefined };
    }
    const externals = r.externals ? (JSON.parse(r.externals) as External[]) : [];
    const env = externalsEnv(recipe, externals);
    const withExternals = Object.keys(env).length ? { ...recipe, kconfigEnv: { ...recipe.kconfigEnv, ...env } } : recipe;
    return { id: r.id, name: r.name, recipe: withExternals, externals, upstream: JSON.parse(r.upstream) as Upstream, sync, revisionCount: this.revisionCount(r.id) };
  }

  list(): Project[] {
    return this.rows().flatMap((r) => this.toProject(r) ?? []);
  }

  get(id: string): Project | undefined {
    const r = this.rows("WHERE p.id = ?", id)[0];
    return r ? this.toProject(r) : undefined;
  }

  require(id: string): Project {
    const p = this.get(id);
    if (p) return p;
    const known = this.list().map((x) => x.id);
    throw notFound("unknown_project", `No project '${id}'. Known projects: ${known.length ? known.join(", ") : "none (add one with 'kbs project add')"}.`);
  }

  /** Register a project; a taken id, bad id or unknown recipe is a 400 naming the fix. */
  add(p: { id: string; name?: string; recipe: string; upstream: Upstream; externals?: External[] }): Project {
    const id = ProjectIdSchema.safeParse(p.id);
    if (!id.success) throw invalid("bad_project_id", `'${printableName(p.id)}' is not a valid project id: ${id.error.issues[0]!.message}.`);
    if (!getRecipe(p.recipe)) throw invalid("unknown_recipe", `No recipe '${p.recipe}'. Recipes: ${[...loadRecipes().keys()].join(", ")}.`);
    if (this.get(p.id)) throw conflict("project_exists", `A project '${p.id}' already exists; pick another id.`);
    this.db
      .prepare("INSERT INTO projects (id, name, recipe, upstream, created_at, externals) VALUES (?, ?, ?, ?, ?, ?)")
      .run(p.id, p.name ?? p.id, p.recipe, JSON.stringify(p.upstream), Date.now(), p.externals?.length ? JSON.stringify(p.externals) : null);
    this.db.prepare("DELETE FROM projects_removed WHERE id = ?").run(p.id);
    return this.require(p.id);
  }

  /**
   * Register or update a project kbs ships (built-ins, pre-registered upstreams); keeps its sync state.
   * `update: false` (pre-registered upstreams) also leaves alone an id the operator removed.
   */
  ensure(p: { id: string; name: string; recipe: string; upstream: Upstream }, opts: { update: boolean }): void {
    const existing = this.db.prepare("SELECT id FROM projects WHERE id = ?").get(p.id);
    if (!existing && !opts.update && this.db.prepare("SELECT 1 FROM projects_removed WHERE id = ?").get(p.id)) return;
    if (!existing) this.add(p);
    else if (opts.update) this.db.prepare("UPDATE projects SET name = ?, recipe = ?, upstream = ? WHERE id = ?").run(p.name, p.recipe, JSON.stringify(p.upstream), p.id);
  }

  /**
   * Forget a project: a failed `project add`, or (`removed: true`) `kbs project remove`, which
   * also keeps a pre-registered id from coming back at the next start. The mirror refs and
   * index rows are removeProject's (projects/remove.ts).
   */
  remove(id: string, opts: { removed?: boolean } = {}): void {
    this.db.prepare("DELETE FROM projects WHERE id = ?").run(id);
    this.db.prepare("DELETE FROM project_sync_locks WHERE project = ?").run(id);
    if (opts.removed) this.db.prepare("INSERT INTO projects_removed (id, removed_at) VALUES (?, ?) ON CONFLICT(id) DO UPDATE SET removed_at = excluded.removed_at").run(id, Date.now());
  }

  /** Point a git project at another URL (a local mirror); the next sync fetches from there and prunes what it lacks. */
  setUrl(id: string, url: string): Project {
    const p = this.require(id);
    if (p.upstream.kind !== "git") throw invalid("not_a_git_project", `Project '${id}' comes from ${p.upstream.kind === "tarball" ? "a source tarball" : "kbs itself (built-in)"}, not a git URL; only git projects can change their URL.`);
    this.db.prepare("UPDATE projects SET upstream = ? WHERE id = ?").run(JSON.stringify({ kind: "git", url } satisfies Upstream), id);
    return this.require(id);
  }

  /** The external trees' revisions as the last sync resolved them. */
  setExternals(id: string, externals: External[]): void {
    this.db.prepare("UPDATE projects SET externals = ? WHERE id = ?").run(externals.length ? JSON.stringify(externals) : null, id);
  }

  setSync(id: string, s: { state?: SyncState; message?: string | null; lastTried?: number; lastOk?: number; progress?: SyncStatus["progress"] | null }): void {
    const sets: string[] = [];
    const args: unknown[] = [];
    const put = (col: string, v: unknown) => {
      sets.push(`${col} = ?`);
      args.push(v);
    };
    if (s.state !== undefined) put("sync_state", s.state);
    if (s.message !== undefined) put("sync_message", s.message);
    if (s.lastTried !== undefined) put("last_tried", s.lastTried);
    if (s.lastOk !== undefined) put("last_ok", s.lastOk);
    if (s.progress !== undefined) put("progress", s.progress ? JSON.stringify(s.progress) : null);
    if (sets.length) this.db.prepare(`UPDATE projects SET ${sets.join(", ")} WHERE id = ?`).run(...args, id);
  }

  sourceHash(id: string): string | undefined {
    return (this.db.prepare("SELECT source_hash FROM projects WHERE id = ?").pluck().get(id) as string | null | undefined) ?? undefined;
  }

  setSourceHash(id: string, hash: string): void {
    this.db.prepare("UPDATE projects SET source_hash = ? WHERE id = ?").run(hash, id);
  }
}
