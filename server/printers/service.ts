import crypto from "node:crypto";
import { migrate, type Db } from "../core/db";
import { newerOnBranch, upgradeConfig, type UpgradeChanges, type UpgradeDeps } from "../configs/upgrade";
import type { StoredConfig } from "../configs/store";
import type { BuildRequest } from "../builds/service";
import type { BuildRow, BuildView } from "../builds/types";
import { invalid, notFound } from "../core/errors";

/** One MCU of a printer: its role ("main", "toolhead", "host") and its saved config. */
export interface PrinterPart {
  role: string;
  configId: string;
}

export interface Printer {
  id: string;
  name: string;
  project: string;
  parts: PrinterPart[];
  /** The profile this one was upgraded from, if any. */
  upgradedFrom: string | null;
  createdAt: string;
}

const schema = {
  part: "printers",
  migrations: [
    `CREATE TABLE printers (
       id TEXT PRIMARY KEY,
       name TEXT NOT NULL,
       project TEXT NOT NULL,
       parts TEXT NOT NULL,
       upgraded_from TEXT,
       created_at TEXT NOT NULL
     );
     CREATE TABLE printer_builds (
       printer_id TEXT NOT NULL REFERENCES printers(id),
       role TEXT NOT NULL,
       build_id TEXT NOT NULL,
       created_at TEXT NOT NULL
     );
     CREATE INDEX printer_builds_by_printer ON printer_builds (printer_id, role, created_at);`,
  ],
};

export interface PrinterDeps extends UpgradeDeps {
  db: Db;
  configs: UpgradeDeps["configs"];
  builds: {
    request(r: BuildRequest): Promise<{ build: BuildView; outcome: string }>;
    get(id: string): BuildRow | undefined;
    view(b: BuildRow): BuildView;
  };
  gitref: { dir: string; refs(project: string): Promise<Array<{ kind: string; name: string; commit: string }>> };
  revdb: UpgradeDeps["revdb"] & { head(project: string): string | undefined };
}

/**
 * Printer profiles: the configs of a printer's MCUs kept together under one share link
 * (/p/:id), built and upgraded as one. A profile is immutable; "Upgrade all" makes a new
 * profile of the upgraded configs.
 */
export class PrinterService {
  constructor(private readonly deps: PrinterDeps) {
    migrate(deps.db, schema);
  }

  create(req: { name: string; parts: PrinterPart[] }, upgradedFrom?: string): Printer {
    const roles = new Set<string>();
    let project: string | undefined;
    for (const part of req.parts) {
      if (roles.has(part.role)) throw invalid("duplicate_role", `Two parts have the role '${part.role}'; give each MCU its own role (main, toolhead, host...).`);
      roles.add(part.role);
      const c: StoredConfig = this.deps.configs.require(part.configId);
      project ??= c.project;
      if (c.project !== project) {
        throw invalid("config_project_mismatch", `Part '${part.role}' names a config of project '${c.project}', but the profile's first part is of '${project}'; all parts of a printer are configs of one project.`);
      }
    }
    const printer: Printer = { id: crypto.randomBytes(16).toString("hex"), name: req.name, project: project!, parts: req.parts, upgradedFrom: upgradedFrom ?? null, createdAt: new Date().toISOString() };
    this.deps.db
      .prepare("INSERT INTO printers (id, name, project, parts, upgraded_from, created_at) VALUES (?, ?, ?, ?, ?, ?)")
      .run(printer.id, printer.name, printer.project, JSON.stringify(printer.parts), printer.upgradedFrom, printer.createdAt);
    return printer;
  }

  require(id: string): Printer {
    const row = /^[0-9a-f]{32}$/.test(id)
      ? (this.deps.db.prepare("SELECT * FROM printers WHERE id = ?").get(id) as { id: string; name: string; project: string; parts: string; upgraded_from: string | null; created_at: string } | undefined)
      : undefined;
    if (!row) throw notFound("unknown_printer", `No printer profile '${id.slice(0, 40)}'. Profile ids are the 32 hex digits a profile gets when it is saved.`);
    return { id: row.id, name: row.name, project: row.project, parts: JSON.parse(row.parts) as PrinterPart[], upgradedFrom: row.upgraded_from, createdAt: row.created_at };
  }

  /** The latest build started for each part from this profile. */
  lastBuilds(id: string): Map<string, BuildView> {
    const rows = this.deps.db.prepare("SELECT role, build_id FROM printer_builds WHERE printer_id = ? ORDER BY created_at, rowid").all(id) as Array<{ role: string; build_id: string }>;
    const out = new Map<string, BuildView>();
    for (const r of rows) {
      const b = this.deps.builds.get(r.build_id);
      if (b) out.set(r.role, this.deps.builds.view(b));
    }
    return out;
  }

  /** "Build all": one build per part (joined or served from the cache when identical). */
  async buildAll(id: string, client: string): Promise<Array<{ role: string; build: BuildView }>> {
    const p = this.require(id);
    const out: Array<{ role: string; build: BuildView }> = [];
    for (const part of p.parts) {
      const c = this.deps.configs.require(part.configId);
      const { build } = await this.deps.builds.request({ project: p.project, rev: c.commit, configId: c.id, client });
      this.deps.db.prepare("INSERT INTO printer_builds (printer_id, role, build_id, created_at) VALUES (?, ?, ?, ?)").run(p.id, part.role, build.id, new Date().toISOString());
      out.push({ role: part.role, build });
    }
    return out;
  }

  /** "Upgrade all": every part upgraded to `rev` (default: the head of its branch), as a new profile. */
  async upgradeAll(id: string, rev?: string): Promise<{ printer: Printer; parts: Array<{ role: string; from: string; to: string } & UpgradeChanges> }> {
    const p = this.require(id);
    const parts: Array<{ role: string; from: string; to: string } & UpgradeChanges> = [];
    const upgraded: PrinterPart[] = [];
    for (const part of p.parts) {
      const c = this.deps.configs.require(part.configId);
      const target = rev ?? (await newerOnBranch(this.deps, c))?.revision.sha;
      if (!target) {
        upgraded.push(part);
        parts.push({ role: part.role, from: c.describe, to: c.describe, new: [], removed: [], changed: [] });
        continue;
      }
      const r = await upgradeConfig(this.deps, c.id, target);
      upgraded.push({ role: part.role, configId: r.configId! });
      parts.push({ role: part.role, from: r.from.describe, to: r.to.describe, new: r.new, removed: r.removed, changed: r.changed });
    }
    return { printer: this.create({ name: p.name, parts: upgraded }, p.id), parts };
  }
}
