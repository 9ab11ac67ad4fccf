import crypto from "node:crypto";
import { migrate, type Db } from "../core/db";
import { DEFAULT_PREFIX, formatConfig, parseConfig, parseConfigStrict, type ParsedConfig } from "./parse";
import type { RevisionPin } from "../core/revision";
import { notFound } from "../core/errors";

/** What the store needs from revdb: a commit's describe string and kconfig hash. */
export interface RevisionLookup {
  resolve(project: string, rev: string): { sha: string; describe: string; kconfigHash: string };
}

/** `rev` is the revision as first given when the config was stored. */
export interface StoredConfig extends RevisionPin {
  id: string;
  kconfigHash: string;
  /** The canonical form (sorted, LF, no comments): what the id covers. */
  text: string;
  /**
   * The config as the tree's own tools wrote it (Kconfig order, menu comments), when
   * known: menuconfig's file for a session save, the tree's make or olddefconfig output.
   * Its canonical form is `text`, or (olddefconfig of a partial upload) a completion of it.
   */
  written: string | undefined;
  createdAt: string;
}

export interface DerivedConfig {
  defconfig: string;
  changed: Array<{ symbol: string; value: string; default: string }>;
}

const schema = {
  part: "configs",
  migrations: [
    `CREATE TABLE configs (
       id TEXT PRIMARY KEY,
       project TEXT NOT NULL,
       rev TEXT NOT NULL,
       commit_sha TEXT NOT NULL,
       describe TEXT NOT NULL,
       kconfig_hash TEXT NOT NULL,
       text TEXT NOT NULL,
       created_at TEXT NOT NULL
     );
     CREATE TABLE config_derived (
       id TEXT PRIMARY KEY REFERENCES configs(id),
       defconfig TEXT NOT NULL,
       changed TEXT NOT NULL
     );`,
    "ALTER TABLE configs ADD COLUMN written TEXT;",
  ],
};

interface Row {
  id: string;
  project: string;
  rev: string;
  commit_sha: string;
  describe: string;
  kconfig_hash: string;
  text: string;
  written: string | null;
  created_at: string;
}

/** The config id: sha256 over project, commit and the canonical text, so equal input gives an equal id. */
export function configId(project: string, commit: string, normalised: string): string {
  return crypto.createHash("sha256").update(`kbs-config\0${project}\0${commit}\0${normalised}`).digest("hex");
}

/**
 * Saved configs, content addressed, in SQLite (so they survive restarts). Input is
 * parsed strictly and stored in canonical form; the canonical text is what the id covers.
 */
export class ConfigStore {
  constructor(
    private readonly db: Db,
    private readonly revisions: RevisionLookup,
    /** The project's symbol prefix (its recipe's `symbolPrefix`): what its config lines start with. */
    private readonly prefixOf: (project: string) => string = () => DEFAULT_PREFIX,
  ) {
    migrate(db, schema);
  }

  parse(text: Buffer | string, project?: string): ParsedConfig {
    return parseConfig(text, project ? this.prefixOf(project) : DEFAULT_PREFIX);
  }

  normalise(text: Buffer | string, project?: string): string {
    const prefix = project ? this.prefixOf(project) : DEFAULT_PREFIX;
    return formatConfig(parseConfigStrict(text, prefix), prefix);
  }

  /**
   * Store a config for a project at a revision (any rev revdb resolves; a commit sha is one).
   * `written` says `text` is exactly what the tree's tools wrote, kept to serve as is; a
   * config stored again keeps the first written form it was given.
   */
  put(input: { project: string; commit?: string; rev?: string; text: Buffer | string; written?: boolean }): { id: string; created: boolean; warnings: string[] } {
    const prefix = this.prefixOf(input.project);
    const parsed = parseConfigStrict(input.text, prefix);
    const warnings = parsed.warnings.map((w) => `line ${w.line}: ${w.message}`);
    const rev = input.rev ?? input.commit;
    if (!rev) throw new Error("ConfigStore.put needs a commit or a rev");
    const revision = this.revisions.resolve(input.project, input.commit ?? rev);
    const text = formatConfig(parsed, prefix);
    const id = configId(input.project, revision.sha, text);
    const res = this.db
      .prepare(
        `INSERT INTO configs (id, project, rev, commit_sha, describe, kconfig_hash, text, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO NOTHING`,
      )
      .run(id, input.project, rev, revision.sha, revision.describe, revision.kconfigHash, text, new Date().toISOString());
    if (input.written) this.setWritten(id, typeof input.text === "string" ? input.text : input.text.toString("utf8"));
    return { id, created: res.changes > 0, warnings };
  }

  /** Keep the tree-written form of a stored config, unless it has one already. */
  setWritten(id: string, written: string): void {
    this.db.prepare("UPDATE configs SET written = ? WHERE id = ? AND written IS NULL").run(written, id);
  }

  get(id: string): StoredConfig | undefined {
    if (!/^[0-9a-f]{64}$/.test(id)) return undefined;
    const row = this.db.prepare("SELECT * FROM configs WHERE id = ?").get(id) as Row | undefined;
    return row && {
      id: row.id,
      project: row.project,
      rev: row.rev,
      commit: row.commit_sha,
      describe: row.describe,
      kconfigHash: row.kconfig_hash,
      text: row.text,
      written: row.written ?? undefined,
      createdAt: row.created_at,
    };
  }

  require(id: string): StoredConfig {
    const c = this.get(id);
    if (!c) throw notFound("unknown_config", `No saved config '${id.slice(0, 80)}'. Config ids are the 64 hex digits a config gets when it is saved (uploaded, or written by menuconfig).`);
    return c;
  }

  /** A project's saved configs whose derived forms are not stored yet (made before `kbs project remove`, so they stay readable). */
  underived(project: string): StoredConfig[] {
    const ids = this.db.prepare("SELECT c.id FROM configs c LEFT JOIN config_derived d ON d.id = c.id WHERE c.project = ? AND d.id IS NULL").pluck().all(project) as string[];
    return ids.map((id) => this.require(id));
  }

  /** Whether any saved config was made on this kconfig tree (its bundle then stays). */
  usesKconfigHash(hash: string): boolean {
    return !!this.db.prepare("SELECT 1 FROM configs WHERE kconfig_hash = ? LIMIT 1").get(hash);
  }

  derived(id: string): DerivedConfig | undefined {
    const row = this.db.prepare("SELECT defconfig, changed FROM config_derived WHERE id = ?").get(id) as { defconfig: string; changed: string } | undefined;
    return row && { defconfig: row.defconfig, changed: JSON.parse(row.changed) as DerivedConfig["changed"] };
  }

  saveDerived(id: string, d: DerivedConfig): void {
    this.db
      .prepare("INSERT INTO config_derived (id, defconfig, changed) VALUES (?, ?, ?) ON CONFLICT(id) DO UPDATE SET defconfig = excluded.defconfig, changed = excluded.changed")
      .run(id, d.defconfig, JSON.stringify(d.changed));
  }
}
