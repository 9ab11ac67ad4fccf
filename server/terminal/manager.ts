import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { bundleFiles } from "../configs/bundle-files";
import { kconfigEnv } from "../configs/kconfig-env";
import { linkOrCopy, type KconfigTools } from "../configs/kconfig-tools";
import type { ConfigStore } from "../configs/store";
import { migrate, type Db } from "../db";
import { HttpError, badRequest, notFound } from "../http/errors";
import { log } from "../log";
import { counter, gauge } from "../metrics";
import type { Recipe } from "../projects/recipe";
import type { PoolKey, WarmSandbox } from "../sandbox/types";
import type { Settings } from "../settings";
import { DEFAULT_HIGH_WATERMARK, DEFAULT_LOW_WATERMARK } from "./flow";
import { chooseFrontend } from "./frontend";
import { Session, type EndReason } from "./session";

export interface SessionDeps {
  settings: Settings;
  db: Db;
  projects: { require(id: string): { id: string; recipe: Recipe } };
  revdb: { resolve(project: string, rev: string): { sha: string; describe: string; kconfigHash: string } };
  bundles: { path(kconfigHash: string): string };
  sandbox: { claim(key: PoolKey): Promise<WarmSandbox> };
  configs: ConfigStore;
  kconfig: KconfigTools;
}

export interface CreateSession {
  project: string;
  rev: string;
  configId?: string;
  arch?: string;
  clientAddress: string;
}

export interface SessionRecord {
  id: string;
  project: string;
  rev: string;
  commit: string;
  describe: string;
  kconfigHash: string;
  createdAt: string;
  endedAt: string | null;
  endReason: string | null;
  configId: string | null;
}

const active = gauge("kbs_sessions_active", "menuconfig sessions running now");
const total = counter("kbs_sessions_total", "menuconfig sessions started");
const ended = counter("kbs_sessions_ended_total", "menuconfig sessions ended, by reason", ["reason"]);
const refused = counter("kbs_sessions_refused_total", "session requests refused by a limit", ["limit"]);

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

/** Where the bundle and the starting config go in the sandbox (its /kbs/in), and where menuconfig writes. */
const IN_BUNDLE = "bundle.tar";
const IN_CONFIG = "config";
const IN_TOOLS = "tree-bins.tar";

/**
 * Menuconfig sessions: creation (revision -> kconfig bundle -> warm sandbox), the
 * limits (per client address and in all), the record of each session in SQLite (so
 * a session's saved config stays reachable after it ended or the server restarted).
 */
export class SessionManager {
  private readonly live = new Map<string, Session>();
  private readonly clients = new Map<string, string>();
  /** Creations under way count against the limits too, so concurrent requests cannot overshoot. */
  private readonly starting = new Map<string, number>();

  constructor(private readonly deps: SessionDeps) {
    // Sessions live in the process that serves them: CLI verbs open the same db while the server runs,
    // so rows without an end are not touched here; a session not live in this process reads as ended.
    migrate(deps.db, schema);
  }

  get(id: string): Session | undefined {
    return this.live.get(id);
  }

  record(id: string): SessionRecord | undefined {
    const row = this.deps.db
      .prepare(
        `SELECT id, project, rev, commit_sha AS "commit", describe, kconfig_hash AS kconfigHash, created_at AS createdAt,
                ended_at AS endedAt, end_reason AS endReason, config_id AS configId FROM sessions WHERE id = ?`,
      )
      .get(id) as SessionRecord | undefined;
    return row;
  }

  get activeCount(): number {
    return this.live.size;
  }

  async create(req: CreateSession): Promise<{ id: string; wsPath: string; kconfigHash: string }> {
    const { settings } = this.deps;
    const limits = settings.sessions;
    const startingTotal = [...this.starting.values()].reduce((a, b) => a + b, 0);
    if (this.live.size + startingTotal >= limits.max) {
      refused.inc({ limit: "total" });
      throw new HttpError(503, "too_many_sessions", `The server is at its limit of ${limits.max} menuconfig sessions. Try again in a few minutes.`, { "Retry-After": "60" });
    }
    const mine = [...this.clients.values()].filter((c) => c === req.clientAddress).length + (this.starting.get(req.clientAddress) ?? 0);
    if (mine >= limits.perClient) {
      refused.inc({ limit: "per_client" });
      throw new HttpError(429, "too_many_sessions", `You already have ${mine} menuconfig sessions open (the limit is ${limits.perClient} per address). Close one (its saved config is kept) and try again.`, { "Retry-After": "30" });
    }
    const project = this.deps.projects.require(req.project);
    const recipe = project.recipe;
    const revision = this.deps.revdb.resolve(req.project, req.rev);
    const env = kconfigEnv(recipe, req.arch);
    let startText: string | undefined;
    if (req.configId) {
      const c = this.deps.configs.require(req.configId);
      if (c.project !== req.project) throw badRequest("config_project_mismatch", `Config ${req.configId.slice(0, 12)}… belongs to project '${c.project}', not '${req.project}'.`);
      startText = c.text;
    }
    const bundle = this.deps.bundles.path(revision.kconfigHash);
    const files = await bundleFiles(bundle);
    const own = await this.deps.kconfig.treeBinaries.get(recipe, revision.kconfigHash, bundle, files);
    const frontend = chooseFrontend(recipe, files, own?.mconf);

    this.starting.set(req.clientAddress, (this.starting.get(req.clientAddress) ?? 0) + 1);
    let sandbox: WarmSandbox;
    try {
      sandbox = await this.deps.sandbox.claim({ image: "menuconfig" });
    } finally {
      const n = (this.starting.get(req.clientAddress) ?? 1) - 1;
      if (n > 0) this.starting.set(req.clientAddress, n);
      else this.starting.delete(req.clientAddress);
    }
    try {
      linkOrCopy(bundle, path.join(sandbox.inDir, IN_BUNDLE));
      if (own) linkOrCopy(own.tar, path.join(sandbox.inDir, IN_TOOLS));
      if (startText !== undefined) fs.writeFileSync(path.join(sandbox.inDir, IN_CONFIG), startText);
    } catch (e) {
      await sandbox.kill();
      throw e;
    }

    // 144 random bits: session ids are capabilities (whoever has one can type into it).
    const id = crypto.randomBytes(18).toString("base64url");
    const session = new Session({
      id,
      kconfigHash: revision.kconfigHash,
      sandbox,
      frontend,
      job: {
        extract: own ? [`/kbs/in/${IN_BUNDLE}`, `/kbs/in/${IN_TOOLS}`] : [`/kbs/in/${IN_BUNDLE}`],
        copy: startText !== undefined ? [{ from: `/kbs/in/${IN_CONFIG}`, to: "/kbs/out/.config" }] : [],
        cwd: "/work",
        argv: frontend.argv,
        env: { ...env, KCONFIG_CONFIG: "/kbs/out/.config", srctree: "/work" },
      },
      startText,
      limits: { idleMs: limits.idleSec * 1000, maxMs: limits.maxSec * 1000, graceMs: limits.graceSec * 1000 },
      flow: { high: DEFAULT_HIGH_WATERMARK, low: DEFAULT_LOW_WATERMARK },
      store: async (text) => {
        const { id: configId } = this.deps.configs.put({ project: req.project, commit: revision.sha, rev: req.rev, text });
        this.deps.db.prepare("UPDATE sessions SET config_id = ? WHERE id = ?").run(configId, id);
        return configId;
      },
      complete: (text) => this.deps.kconfig.olddefconfig(req.project, revision, text, { arch: req.arch }),
      onEnd: (reason) => this.ended(id, reason),
    });
    this.deps.db
      .prepare("INSERT INTO sessions (id, project, rev, commit_sha, describe, kconfig_hash, client, created_at, config_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
      .run(id, req.project, req.rev, revision.sha, revision.describe, revision.kconfigHash, req.clientAddress, new Date().toISOString(), req.configId ?? null);
    this.live.set(id, session);
    this.clients.set(id, req.clientAddress);
    active.set(this.live.size);
    total.inc();
    log.info({ session: id, project: req.project, commit: revision.sha, frontend: frontend.source, sandbox: sandbox.id }, "session started");
    return { id, wsPath: `/ws/sessions/${id}`, kconfigHash: revision.kconfigHash };
  }

  /** The session's latest saved config text, live or ended. */
  savedConfig(id: string): string {
    const rec = this.record(id);
    if (!rec) throw notFound("unknown_session", "No such session. Session ids come from POST /api/sessions.");
    if (!rec.configId) throw notFound("no_config_yet", "This session has no saved config yet: save in menuconfig (S, or Q then Y), or send {\"type\":\"save\"} over its WebSocket.");
    return this.deps.configs.require(rec.configId).text;
  }

  async close(): Promise<void> {
    await Promise.all(
      [...this.live.values()].map((s) => s.end("shutdown", "server_shutdown", "The server is shutting down; this session is closed. Saved configs are kept.")),
    );
  }

  private ended(id: string, reason: EndReason): void {
    this.live.delete(id);
    this.clients.delete(id);
    active.set(this.live.size);
    ended.inc({ reason });
    this.deps.db.prepare("UPDATE sessions SET ended_at = ?, end_reason = ? WHERE id = ?").run(new Date().toISOString(), reason, id);
    log.info({ session: id, reason }, "session ended");
  }
}
