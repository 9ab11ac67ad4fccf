import { migrate, type Db } from "../core/db";

/**
 * revdb tables. Commits keep their parents and date so describe can walk history from
 * the database on incremental syncs; `named` marks commits a tag or branch points at
 * (they list first); the rowid orders commits parents-first within a project.
 */
export function migrateRevdb(db: Db): void {
  migrate(db, {
    part: "revdb",
    migrations: [
      `CREATE TABLE revdb_commits (
         id INTEGER PRIMARY KEY,
         project TEXT NOT NULL,
         sha TEXT NOT NULL,
         parents TEXT NOT NULL,
         date INTEGER NOT NULL,
         abbrev TEXT NOT NULL,
         describe TEXT NOT NULL,
         kconfig_hash TEXT NOT NULL,
         named INTEGER NOT NULL DEFAULT 0,
         UNIQUE (project, sha)
       );
       CREATE INDEX revdb_commits_order ON revdb_commits (project, named DESC, date DESC, id DESC);
       CREATE INDEX revdb_commits_hash ON revdb_commits (project, kconfig_hash);
       CREATE INDEX revdb_commits_describe ON revdb_commits (project, describe);
       CREATE TABLE revdb_refs (
         project TEXT NOT NULL,
         kind TEXT NOT NULL,
         name TEXT NOT NULL,
         sha TEXT NOT NULL,
         annotated INTEGER NOT NULL,
         tagger_date INTEGER NOT NULL,
         embedded_name TEXT,
         PRIMARY KEY (project, kind, name)
       );
       CREATE INDEX revdb_refs_sha ON revdb_refs (project, sha);
       CREATE TABLE revdb_trees (
         hash TEXT PRIMARY KEY,
         entries TEXT NOT NULL,
         files INTEGER NOT NULL
       );
       CREATE TABLE revdb_state (
         project TEXT PRIMARY KEY,
         recipe_fingerprint TEXT NOT NULL,
         tags_fingerprint TEXT NOT NULL,
         generation INTEGER NOT NULL DEFAULT 0
       );`,
      // Listing and describe-prefix search read covering indexes: no table lookups.
      `DROP INDEX revdb_commits_order;
       CREATE INDEX revdb_commits_order ON revdb_commits (project, named DESC, date DESC, id DESC, sha, describe, kconfig_hash);
       DROP INDEX revdb_commits_describe;
       CREATE INDEX revdb_commits_describe ON revdb_commits (project, describe, named, date, sha, kconfig_hash);`,
      // A tree is a snapshot (no base) or the changes one commit made to its base (server/revdb/tree-store.ts).
      `ALTER TABLE revdb_trees ADD COLUMN base TEXT;
       ALTER TABLE revdb_trees ADD COLUMN depth INTEGER NOT NULL DEFAULT 0;`,
    ],
  });
}
