import { migrate, type Db } from "../core/db";
import type { RevisionPin } from "../core/revision";

export interface SessionRecord extends RevisionPin {
  id: string;
  kconfigHash: string;
  createdAt: string;
  endedAt: string | null;
  endReason: string | null;
  configId: string | null;
}

/** A session as it starts: what it runs on, for whom, and the config it starts from. */
export interface NewSession extends RevisionPin {
  id: string;
  kconfigHash: string;
  client: string;
  configId: string | undefined;
}

const schema = {
  part: "terminal",
  migrations: [
    `CREATE TABLE sessions (
       id TEXT PRIMARY KEY,
       project TEXT NOT NULL,
       rev TEXT NOT NULL,
       commit_sha TEXT NOT NULL,
       describe TEXT NOT NULL,
       kconfig_hash TEXT NOT NULL,
       client TEXT NOT NULL,
       created_at TEXT NOT NULL,
       ended_at TEXT,
       end_reason TEXT,
       config_id TEXT
     );`,
  ],
};

/**
 * The record of every session in SQLite, so a session's saved config stays reachable
 * after it ended or the server restarted. Sessions live in the process that serves them:
 * CLI verbs open the same db while the server runs, so rows without an end are not
 * touched here; a session not live in this process reads as ended.
 */
export class SessionStore {
  constructor(private readonly db: Db) {
    migrate(db, schema);
  }

  get(id: string): SessionRecord | undefined {
    return this.db
      .prepare(
        `SELECT id, project, rev, commit_sha AS "commit", describe, kconfig_hash AS kconfigHash, created_at AS createdAt,
                ended_at AS endedAt, end_reason AS endReason, config_id AS configId FROM sessions WHERE id = ?`,
      )
      .get(id) as SessionRecord | undefined;
  }

  add(s: NewSession): void {
    this.db
      .prepare("INSERT INTO sessions (id, project, rev, commit_sha, describe, kconfig_hash, client, created_at, config_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
      .run(s.id, s.project, s.rev, s.commit, s.describe, s.kconfigHash, s.client, new Date().toISOString(), s.configId ?? null);
  }

  /** The config the session stored last. */
  saved(id: string, configId: string): void {
    this.db.prepare("UPDATE sessions SET config_id = ? WHERE id = ?").run(configId, id);
  }

  ended(id: string, reason: string): void {
    this.db.prepare("UPDATE sessions SET ended_at = ?, end_reason = ? WHERE id = ?").run(new Date().toISOString(), reason, id);
  }
}
