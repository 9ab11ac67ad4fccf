import crypto from "node:crypto";
import { migrate, type Db } from "../core/db";
import type { ArtifactRef, BuildInputRef, BuildRow, Verification } from "./types";
import { KbsError } from "../core/errors";
import type { BuildState } from "../../contracts/build-states";

/**
 * The build records, in SQLite for both queue engines (the Redis engine only carries
 * job ids; every worker shares the data dir). A partial UNIQUE index on the key of
 * live builds (queued, running, or succeeded and not expired) makes "join, don't
 * duplicate" hold even between processes.
 */
const migrations = [
  `CREATE TABLE builds (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     id TEXT NOT NULL UNIQUE,
     key TEXT NOT NULL,
     project TEXT NOT NULL,
     rev TEXT NOT NULL,
     commit_sha TEXT NOT NULL,
     describe TEXT NOT NULL,
     config_id TEXT NOT NULL,
     recipe TEXT NOT NULL,
     recipe_version INTEGER NOT NULL,
     image TEXT NOT NULL,
     client TEXT NOT NULL,
     state TEXT NOT NULL,
     attempt INTEGER NOT NULL DEFAULT 0,
     worker TEXT,
     failed_step TEXT,
     error_summary TEXT,
     artifacts TEXT NOT NULL DEFAULT '[]',
     pinned INTEGER NOT NULL DEFAULT 0,
     expired INTEGER NOT NULL DEFAULT 0,
     created_at TEXT NOT NULL,
     started_at TEXT,
     finished_at TEXT,
     duration_ms INTEGER
   );
   CREATE UNIQUE INDEX builds_live_key ON builds(key) WHERE state IN ('queued','running','succeeded') AND expired = 0;
   CREATE INDEX builds_state ON builds(state, seq);
   CREATE TABLE build_config_keys (
     config_id TEXT NOT NULL,
     commit_sha TEXT NOT NULL,
     recipe TEXT NOT NULL,
     config_hash TEXT NOT NULL,
     PRIMARY KEY (config_id, commit_sha, recipe)
   );`,
  // Build inputs (recipe build.inputs): resolved at request time; the cached olddefconfig result
  // keeps the input symbols' values (NULL: cached before inputs existed, so olddefconfig runs again).
  `ALTER TABLE builds ADD COLUMN inputs TEXT NOT NULL DEFAULT '[]';
   ALTER TABLE build_config_keys ADD COLUMN input_values TEXT;`,
  // Rebuild-and-compare (verify.ts): the last verification as JSON, NULL until one is asked for.
  `ALTER TABLE builds ADD COLUMN verification TEXT;`,
];

interface Row {
  id: string;
  key: string;
  project: string;
  rev: string;
  commit_sha: string;
  describe: string;
  config_id: string;
  recipe: string;
  recipe_version: number;
  image: string;
  client: string;
  state: BuildState;
  attempt: number;
  worker: string | null;
  failed_step: string | null;
  error_summary: string | null;
  artifacts: string;
  inputs: string;
  verification: string | null;
  pinned: number;
  expired: number;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
}

const toBuild = (r: Row): BuildRow => ({
  id: r.id,
  key: r.key,
  project: r.project,
  rev: r.rev,
  commit: r.commit_sha,
  describe: r.describe,
  configId: r.config_id,
  recipe: r.recipe,
  recipeVersion: r.recipe_version,
  image: r.image,
  client: r.client,
  state: r.state,
  attempt: r.attempt,
  worker: r.worker,
  failedStep: r.failed_step,
  errorSummary: r.error_summary,
  artifacts: JSON.parse(r.artifacts) as ArtifactRef[],
  inputs: JSON.parse(r.inputs) as BuildInputRef[],
  verification: r.verification ? (JSON.parse(r.verification) as Verification) : null,
  pinned: r.pinned === 1,
  expired: r.expired === 1,
  createdAt: r.created_at,
  startedAt: r.started_at,
  finishedAt: r.finished_at,
});

export type NewBuild = Pick<BuildRow, "key" | "project" | "rev" | "commit" | "describe" | "configId" | "recipe" | "recipeVersion" | "image" | "client"> & { inputs?: BuildInputRef[] };

export interface Outcome {
  build: BuildRow;
  /** created: a new build was queued; joined: an identical one is queued or running; cached: one succeeded. */
  outcome: "created" | "joined" | "cached";
}

export interface Bounds {
  queueMax: number;
  clientMax: number;
  /** Seconds a client is told to wait when the queue is full. */
  retryAfter: () => number;
}

export interface Finish {
  state: Exclude<BuildState, "queued" | "running">;
  failedStep?: string | null;
  errorSummary?: string | null;
  artifacts?: ArtifactRef[];
}

const now = () => new Date().toISOString();
const LIVE = "state IN ('queued','running','succeeded') AND expired = 0";

export class BuildStore {
  constructor(private db: Db) {
    migrate(db, { part: "builds", migrations });
  }

  get(id: string): BuildRow | undefined {
    const r = this.db.prepare("SELECT * FROM builds WHERE id = ?").get(id) as Row | undefined;
    return r && toBuild(r);
  }

  /** Return the live build with this key, or queue a new one — atomically, across processes. */
  createOrJoin(input: NewBuild, bounds: Bounds): Outcome {
    const attempt = () =>
      this.db
        .transaction((): Outcome => {
          const live = this.db.prepare(`SELECT * FROM builds WHERE key = ? AND ${LIVE}`).get(input.key) as Row | undefined;
          if (live) return { build: toBuild(live), outcome: live.state === "succeeded" ? "cached" : "joined" };
          if (this.queuedCount() >= bounds.queueMax) {
            const after = bounds.retryAfter();
            throw new KbsError("busy", "queue_full", `The build queue is full (${bounds.queueMax} waiting). Try again in about ${after} s.`, { retryAfterSec: after });
          }
          const mine = (this.db.prepare("SELECT count(*) AS n FROM builds WHERE state = 'queued' AND client = ?").get(input.client) as { n: number }).n;
          if (mine >= bounds.clientMax) {
            throw new KbsError("busy", "too_many_builds", `You already have ${mine} builds waiting (the limit is ${bounds.clientMax}). Wait for one to start, then try again.`, {
              retryAfterSec: bounds.retryAfter(),
            });
          }
          const id = crypto.randomBytes(8).toString("hex");
          this.db
            .prepare(
              `INSERT INTO builds (id, key, project, rev, commit_sha, describe, config_id, recipe, recipe_version, image, client, inputs, state, created_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?)`,
            )
            .run(id, input.key, input.project, input.rev, input.commit, input.describe, input.configId, input.recipe, input.recipeVersion, input.image, input.client, JSON.stringify(input.inputs ?? []), now());
          return { build: this.get(id)!, outcome: "created" };
        })
        .immediate();
    try {
      return attempt();
    } catch (e) {
      // Another process inserted the same key between our read and write: join it.
      if ((e as { code?: string }).code === "SQLITE_CONSTRAINT_UNIQUE") return attempt();
      throw e;
    }
  }

  /** Embedded engine: take the oldest queued build for `worker`. */
  claimNext(worker: string): { id: string; attempt: number } | undefined {
    return this.db
      .prepare(
        `UPDATE builds SET state = 'running', attempt = attempt + 1, worker = ?, started_at = ?
         WHERE id = (SELECT id FROM builds WHERE state = 'queued' ORDER BY seq LIMIT 1) AND state = 'queued'
         RETURNING id, attempt`,
      )
      .get(worker, now()) as { id: string; attempt: number } | undefined;
  }

  /** Redis engine: take this build (again, when its last worker died); undefined when it is no longer wanted. */
  claim(id: string, worker: string): number | undefined {
    const r = this.db
      .prepare(
        `UPDATE builds SET state = 'running', attempt = attempt + 1, worker = ?, started_at = ?
         WHERE id = ? AND state IN ('queued','running') RETURNING attempt`,
      )
      .get(worker, now(), id) as { attempt: number } | undefined;
    return r?.attempt;
  }

  /** Record the end of one attempt; false when the build was cancelled or taken over meanwhile. */
  finish(id: string, attempt: number, f: Finish): boolean {
    const res = this.db
      .prepare(
        `UPDATE builds SET state = ?, failed_step = ?, error_summary = ?, artifacts = ?, finished_at = ?,
           duration_ms = CAST((julianday(?) - julianday(started_at)) * 86400000 AS INTEGER)
         WHERE id = ? AND attempt = ? AND state = 'running'`,
      )
      .run(f.state, f.failedStep ?? null, f.errorSummary ?? null, JSON.stringify(f.artifacts ?? []), now(), now(), id, attempt);
    return res.changes === 1;
  }

  /** Put a running attempt back in the queue (its worker is shutting down). */
  requeue(id: string, attempt: number): boolean {
    return this.db.prepare("UPDATE builds SET state = 'queued', worker = NULL WHERE id = ? AND attempt = ? AND state = 'running'").run(id, attempt).changes === 1;
  }

  /** A queued build no worker will ever get (the queue refused it): failed, so the key is free again. */
  abandon(id: string, why: string): void {
    this.db.prepare("UPDATE builds SET state = 'failed', failed_step = 'queue', error_summary = ?, finished_at = ? WHERE id = ? AND state = 'queued'").run(why, now(), id);
  }

  /** Cancel a queued or running build; returns the build as it is afterwards. */
  cancel(id: string): BuildRow | undefined {
    this.db
      .prepare("UPDATE builds SET state = 'cancelled', finished_at = ?, error_summary = 'Cancelled on request.' WHERE id = ? AND state IN ('queued','running')")
      .run(now(), id);
    return this.get(id);
  }

  state(id: string): BuildState | undefined {
    return (this.db.prepare("SELECT state FROM builds WHERE id = ?").get(id) as { state: BuildState } | undefined)?.state;
  }

  /** The latest builds of one config, newest first. */
  byConfig(configId: string, limit: number): BuildRow[] {
    return (this.db.prepare("SELECT * FROM builds WHERE config_id = ? ORDER BY seq DESC LIMIT ?").all(configId, limit) as Row[]).map(toBuild);
  }

  /** 1 for the next build to start. */
  position(id: string): number | null {
    const r = this.db
      .prepare("SELECT count(*) AS n FROM builds WHERE state = 'queued' AND seq <= (SELECT seq FROM builds WHERE id = ? AND state = 'queued')")
      .get(id) as { n: number };
    return r.n || null;
  }

  queuedCount(): number {
    return (this.db.prepare("SELECT count(*) AS n FROM builds WHERE state = 'queued'").get() as { n: number }).n;
  }

  /** Builds not finished yet, oldest first. */
  unfinishedIds(): string[] {
    return (this.db.prepare("SELECT id FROM builds WHERE state IN ('queued','running') ORDER BY seq").all() as Array<{ id: string }>).map((r) => r.id);
  }

  /** Mean duration (ms) of the last successful builds of a recipe version; null without history. */
  meanDurationMs(recipe: string, recipeVersion: number): number | null {
    const r = this.db
      .prepare(
        `SELECT avg(duration_ms) AS ms FROM (SELECT duration_ms FROM builds WHERE recipe = ? AND recipe_version = ? AND state = 'succeeded'
         AND duration_ms IS NOT NULL ORDER BY seq DESC LIMIT 20)`,
      )
      .get(recipe, recipeVersion) as { ms: number | null };
    return r.ms;
  }

  /** Builds left `running` by workers that are gone go back to the queue. */
  requeueOrphans(isGone: (worker: string) => boolean): string[] {
    const running = this.db.prepare("SELECT id, worker FROM builds WHERE state = 'running'").all() as Array<{ id: string; worker: string | null }>;
    const orphans = running.filter((r) => !r.worker || isGone(r.worker)).map((r) => r.id);
    const stmt = this.db.prepare("UPDATE builds SET state = 'queued', worker = NULL WHERE id = ? AND state = 'running'");
    for (const id of orphans) stmt.run(id);
    return orphans;
  }

  /**
   * Start a verification unless one is running (across processes: one UPDATE decides); one
   * that started before `staleBefore` is taken over (its process died).
   * Returns whether this caller started it.
   */
  startVerification(id: string, v: Verification, staleBefore: string): boolean {
    return (
      this.db
        .prepare(
          `UPDATE builds SET verification = ? WHERE id = ? AND (verification IS NULL OR json_extract(verification, '$.state') != 'running'
             OR json_extract(verification, '$.startedAt') < ?)`,
        )
        .run(JSON.stringify(v), id, staleBefore).changes === 1
    );
  }

  finishVerification(id: string, v: Verification): void {
    this.db.prepare("UPDATE builds SET verification = ? WHERE id = ?").run(JSON.stringify(v), id);
  }

  pin(id: string): void {
    this.db.prepare("UPDATE builds SET pinned = 1 WHERE id = ?").run(id);
  }

  /** Cached olddefconfig result for (config, commit, recipe): the normalised hash and the input symbols' values; olddefconfig runs once per triple. */
  configHash(configId: string, commit: string, recipe: string): { hash: string; inputValues: Record<string, string> } | undefined {
    const r = this.db
      .prepare("SELECT config_hash, input_values FROM build_config_keys WHERE config_id = ? AND commit_sha = ? AND recipe = ?")
      .get(configId, commit, recipe) as { config_hash: string; input_values: string | null } | undefined;
    return r && r.input_values !== null ? { hash: r.config_hash, inputValues: JSON.parse(r.input_values) as Record<string, string> } : undefined;
  }

  saveConfigHash(configId: string, commit: string, recipe: string, hash: string, inputValues: Record<string, string>): void {
    this.db
      .prepare("INSERT OR REPLACE INTO build_config_keys (config_id, commit_sha, recipe, config_hash, input_values) VALUES (?, ?, ?, ?, ?)")
      .run(configId, commit, recipe, hash, JSON.stringify(inputValues));
  }

  /** Finished, unpinned, unexpired builds, oldest first (janitor). */
  expirable(): Array<{ id: string; finishedAt: string; artifacts: ArtifactRef[] }> {
    const rows = this.db
      .prepare(
        "SELECT id, finished_at, artifacts FROM builds WHERE state NOT IN ('queued','running') AND pinned = 0 AND expired = 0 ORDER BY finished_at",
      )
      .all() as Array<{ id: string; finished_at: string | null; artifacts: string }>;
    return rows.map((r) => ({ id: r.id, finishedAt: r.finished_at ?? "", artifacts: JSON.parse(r.artifacts) as ArtifactRef[] }));
  }

  expire(id: string): void {
    this.db.prepare("UPDATE builds SET expired = 1 WHERE id = ?").run(id);
  }

  /** Every artifact hash a build that is not expired still refers to (`keptOnly`: pinned or unfinished builds only). */
  referencedHashes(keptOnly = false): Set<string> {
    const where = keptOnly ? "expired = 0 AND (pinned = 1 OR state IN ('queued','running'))" : "expired = 0";
    const rows = this.db.prepare(`SELECT artifacts FROM builds WHERE ${where}`).all() as Array<{ artifacts: string }>;
    return new Set(rows.flatMap((r) => (JSON.parse(r.artifacts) as ArtifactRef[]).map((a) => a.sha256)));
  }
}
