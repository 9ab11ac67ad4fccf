import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { migrate, type Db } from "../core/db";
import { writeFileAtomic } from "../core/fs-atomic";
import type { ConfigValuesFile, SymbolEntry, SymbolIndexFile } from "../../contracts/symbols";

const schema = {
  part: "symbols",
  migrations: [
    `CREATE TABLE symbol_indexes (
       hash TEXT NOT NULL,
       variant TEXT NOT NULL,
       error TEXT,
       symbols INTEGER NOT NULL,
       build_ms INTEGER NOT NULL,
       created_at TEXT NOT NULL,
       PRIMARY KEY (hash, variant)
     );
     CREATE TABLE symbol_defs (
       name TEXT NOT NULL,
       variant TEXT NOT NULL,
       hash TEXT NOT NULL,
       digest TEXT NOT NULL,
       PRIMARY KEY (name, variant, hash)
     ) WITHOUT ROWID;
     CREATE TABLE symbol_values (
       config_id TEXT NOT NULL,
       variant TEXT NOT NULL,
       data BLOB NOT NULL,
       PRIMARY KEY (config_id, variant)
     );`,
  ],
};

/**
 * The parts of a definition that history compares, in this order; a digest is 8 hex
 * digits per part. Line numbers are left out (a symbol added above moves every
 * other one), and so are selected-by/implied-by (other symbols' definitions).
 */
/** Bumped when what a digest covers changes (it is part of every index variant, so digests are never mixed). */
export const DIGEST_VERSION = 2;

export const DEFINITION_PARTS = ["type", "prompts", "help", "files", "dependsOn", "visibleIf", "selects", "implies", "defaults", "ranges", "menu", "choice"] as const;
export type DefinitionPart = (typeof DEFINITION_PARTS)[number];

export function definitionDigest(e: SymbolEntry): string {
  const parts: Record<DefinitionPart, unknown> = {
    type: e.type,
    prompts: e.prompts,
    help: e.help,
    files: [...new Set(e.sites.map((s) => s.file))].sort(),
    dependsOn: e.dependsOn,
    visibleIf: e.visibleIf,
    selects: e.selects,
    implies: e.implies,
    defaults: e.defaults,
    ranges: e.ranges,
    menu: e.menu,
    // which choice it is in; the other members and the choice's default are other symbols' changes
    choice: e.choice && { name: e.choice.name, prompt: e.choice.prompt },
  };
  return DEFINITION_PARTS.map((k) => crypto.createHash("sha256").update(JSON.stringify(parts[k] ?? null)).digest("hex").slice(0, 8)).join("");
}

/** The parts two digests differ in. */
export function changedParts(a: string, b: string): DefinitionPart[] {
  return DEFINITION_PARTS.filter((_, i) => a.slice(i * 8, i * 8 + 8) !== b.slice(i * 8, i * 8 + 8));
}

/**
 * Symbol indexes, one per kconfig hash and parse variant (entry, environment, ARCH),
 * gzip-compressed under `data/symbols/<hash>/<variant>.json.gz`: trees shared by
 * revisions or projects share one index, as they share one bundle. SQLite keeps what
 * history needs without reading the files: per index its parse error and size, per
 * symbol a digest of its definition.
 */
export class SymbolIndexStore {
  /** Counts the indexes this process stored: caches over `indexed()` compare it. */
  version = 0;

  constructor(
    readonly dir: string,
    private readonly db: Db,
  ) {
    migrate(db, schema);
  }

  private file(hash: string, variant: string): string {
    return path.join(this.dir, hash, `${variant}.json.gz`);
  }

  /** The stored index, or undefined when there is none yet. */
  read(hash: string, variant: string): SymbolIndexFile | undefined {
    const file = this.file(hash, variant);
    let raw: Buffer;
    try {
      raw = fs.readFileSync(file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw e;
    }
    return JSON.parse(zlib.gunzipSync(raw).toString("utf8")) as SymbolIndexFile;
  }

  has(hash: string, variant: string): boolean {
    return this.db.prepare("SELECT 1 FROM symbol_indexes WHERE hash = ? AND variant = ?").pluck().get(hash, variant) !== undefined && fs.existsSync(this.file(hash, variant));
  }

  put(hash: string, variant: string, index: SymbolIndexFile, buildMs: number): void {
    const file = this.file(hash, variant);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    writeFileAtomic(file, zlib.gzipSync(JSON.stringify(index)));
    const defs = this.db.prepare("INSERT OR REPLACE INTO symbol_defs (name, variant, hash, digest) VALUES (?, ?, ?, ?)");
    this.db.transaction(() => {
      this.db.prepare("DELETE FROM symbol_defs WHERE variant = ? AND hash = ?").run(variant, hash);
      for (const e of index.symbols ?? []) defs.run(e.name, variant, hash, definitionDigest(e));
      this.db
        .prepare("INSERT OR REPLACE INTO symbol_indexes (hash, variant, error, symbols, build_ms, created_at) VALUES (?, ?, ?, ?, ?, ?)")
        .run(hash, variant, index.error ?? null, index.symbols?.length ?? 0, Math.round(buildMs), new Date().toISOString());
    })();
    this.version++;
  }

  /** Of `hashes`, the indexed ones: hash -> its parse error (null when it parsed). */
  indexed(variant: string, hashes: string[]): Map<string, string | null> {
    const rows = this.db
      .prepare("SELECT hash, error FROM symbol_indexes WHERE variant = ? AND hash IN (SELECT value FROM json_each(?))")
      .all(variant, JSON.stringify(hashes)) as Array<{ hash: string; error: string | null }>;
    return new Map(rows.map((r) => [r.hash, r.error]));
  }

  /** hash -> definition digest of one symbol, in every index of this variant that has it. */
  digests(name: string, variant: string): Map<string, string> {
    const rows = this.db.prepare("SELECT hash, digest FROM symbol_defs WHERE name = ? AND variant = ?").raw().all(name, variant) as Array<[string, string]>;
    return new Map(rows);
  }

  values(configId: string, variant: string): ConfigValuesFile | undefined {
    const data = this.db.prepare("SELECT data FROM symbol_values WHERE config_id = ? AND variant = ?").pluck().get(configId, variant) as Buffer | undefined;
    return data && (JSON.parse(zlib.gunzipSync(data).toString("utf8")) as ConfigValuesFile);
  }

  putValues(configId: string, variant: string, values: ConfigValuesFile): void {
    this.db.prepare("INSERT OR REPLACE INTO symbol_values (config_id, variant, data) VALUES (?, ?, ?)").run(configId, variant, zlib.gzipSync(JSON.stringify(values)));
  }
}
