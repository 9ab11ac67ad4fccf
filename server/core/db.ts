import Database from "better-sqlite3";
import fs from "node:fs";
import path from "node:path";

export type Db = Database.Database;

/**
 * A part's schema: a list of migrations applied in order, tracked per part in
 * `schema_versions`, so parts evolve their tables without touching each other's.
 */
export interface PartSchema {
  part: string;
  migrations: string[];
}

export function openDb(dataDir: string): Db {
  fs.mkdirSync(dataDir, { recursive: true });
  const db = new Database(path.join(dataDir, "kbs.sqlite"));
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  db.pragma("foreign_keys = ON");
  db.pragma("busy_timeout = 5000");
  db.exec("CREATE TABLE IF NOT EXISTS schema_versions (part TEXT PRIMARY KEY, version INTEGER NOT NULL)");
  return db;
}

export function migrate(db: Db, schema: PartSchema): void {
  const row = db.prepare("SELECT version FROM schema_versions WHERE part = ?").get(schema.part) as
    | { version: number }
    | undefined;
  const from = row?.version ?? 0;
  if (from >= schema.migrations.length) return;
  db.transaction(() => {
    for (let v = from; v < schema.migrations.length; v++) db.exec(schema.migrations[v]!);
    db.prepare(
      "INSERT INTO schema_versions (part, version) VALUES (?, ?) ON CONFLICT(part) DO UPDATE SET version = excluded.version",
    ).run(schema.part, schema.migrations.length);
  })();
}
