import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { bundleFiles } from "../configs/bundle-files";
import { kconfigEnv } from "../configs/kconfig-env";
import { linkOrCopy, type KconfigTools } from "../configs/kconfig-tools";
import type { ConfigStore } from "../configs/store";
import { migrate, type Db } from "../core/db";
import { HttpError, badRequest, notFound } from "../http/errors";
import { log } from "../core/log";
import { counter, gauge } from "../core/metrics";
import type { Recipe } from "../core/recipe";
import type { LaunchJob, PoolKey, WarmSandbox } from "../sandbox/types";
import type { Settings } from "../core/settings";
import { DEFAULT_HIGH_WATERMARK, DEFAULT_LOW_WATERMARK } from "./flow";
import { chooseFrontend, type Frontend } from "./frontend";
import { Primer, type PrimeHooks } from "./primer";
import { Session, type EndReason, type SessionOptions, type SessionOwner } from "./session";
import type { RevisionPin } from "../core/revision";

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

export interface SessionRecord extends RevisionPin {
  id: string;
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
/** Primed sessions launch at this size; the client's own follows at hand-over (the frontend redraws). */
const PRIME_SIZE = { cols: 120, rows: 40 };
/** A primed frontend is ready once its output has been quiet this long after it drew. */
const PRIME_QUIET_MS = 50;
/** Priming waits this long after a session start, whose own first frame needs the CPU more. */
const PRIME_DELAY_MS = 500;

/** What a session on one tree launches, and the key of that launch. */
interface LaunchSpec {
  key: string;
  kconfigHash: string;
  bundle: string;
  tools: string | undefined;
  /** The recipe's menuconfig image. */
  image: string;
  frontend: Frontend;
  job: Omit<LaunchJob, "cols" | "rows">;
}

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

  private readonly primer: Primer;

  constructor(private readonly deps: SessionDeps) {
    const limits = deps.settings.sessions;
    this.primer = new Primer({ trees: limits.primedTrees, memoryMB: limits.primedMemoryMB, idleMs: limits.idleSec * 1000, delayMs: PRIME_DELAY_MS });
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
    const mineIds = [...this.clients].filter(([, c]) => c === req.clientAddress).map(([id]) => id);
    const mine = mineIds.length + (this.starting.get(req.clientAddress) ?? 0);
    if (mine >= limits.perClient) {
      refused.inc({ limit: "per_client" });
      throw this.perClientRefusal(mine, mineIds);
    }
    const project = this.deps.projects.require(req.project);
    const revision = this.deps.revdb.resolve(req.project, req.rev);
    let startText: string | undefined;
    if (req.configId) {
      const c = this.deps.configs.require(req.configId);
      if (c.project !== req.project) throw badRequest("config_project_mismatch", `Config ${req.configId.slice(0, 12)}… belongs to project '${c.project}', not '${req.project}'.`);
      startText = c.text;
    }
    const spec = await this.launchSpec(req.project, project.recipe, revision.kconfigHash, req.arch, startText !== undefined);

    // 144 random bits: session ids are capabilities (whoever has one can type into it).
    const id = crypto.randomBytes(18).toString("base64url");
    const owner: SessionOwner = {
      id,
      startText,
      store: async (text) => {
        // What menuconfig wrote (or the tree's olddefconfig): kept as written, served for downloads and /c/:id.
        const { id: configId } = this.deps.configs.put({ project: req.project, commit: revision.sha, rev: req.rev, text, written: true });
        this.deps.db.prepare("UPDATE sessions SET config_id = ? WHERE id = ?").run(configId, id);
        return configId;
      },
      complete: (text) => this.deps.kconfig.olddefconfig(req.project, revision, text, { arch: req.arch }),
      onEnd: (reason) => this.ended(id, reason),
    };
    // A session from a stored config starts from it; one from the tree's defaults can be a primed one
    // (ready, or launching: then this start waits for it, as it is ahead of a fresh one).
    this.starting.set(req.clientAddress, (this.starting.get(req.clientAddress) ?? 0) + 1);
    let session: Session;
    try {
      const primed = startText === undefined ? await this.primer.take(spec.key, req.project) : undefined;
      if (primed) {
        primed.handOver(owner);
        session = primed;
      } else session = new Session(this.sessionOptions(spec, await this.sandboxFor(spec, startText)), owner);
    } finally {
      const n = (this.starting.get(req.clientAddress) ?? 1) - 1;
      if (n > 0) this.starting.set(req.clientAddress, n);
      else this.starting.delete(req.clientAddress);
    }
    if (startText === undefined) this.primer.used(spec.key, req.project, (hooks) => this.prime(spec, hooks));

    this.deps.db
      .prepare("INSERT INTO sessions (id, project, rev, commit_sha, describe, kconfig_hash, client, created_at, config_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
      .run(id, req.project, req.rev, revision.sha, revision.describe, revision.kconfigHash, req.clientAddress, new Date().toISOString(), req.configId ?? null);
    this.live.set(id, session);
    this.clients.set(id, req.clientAddress);
    active.set(this.live.size);
    total.inc();
    log.info({ session: id, project: req.project, commit: revision.sha, frontend: spec.frontend.source, sandbox: session.sandboxId, primed: session.primed }, "session started");
    return { id, wsPath: `/ws/sessions/${id}`, kconfigHash: revision.kconfigHash };
  }

  /**
   * The per-address limit's refusal: how many of the address's sessions are lingering
   * (no page connected, waiting out the grace period) and when the first of them frees.
   */
  private perClientRefusal(mine: number, ids: string[]): HttpError {
    const limit = this.deps.settings.sessions.perClient;
    const frees = ids.flatMap((id) => this.live.get(id)?.lingersUntil ?? []).sort((a, b) => a - b);
    const head = `You already have ${mine} menuconfig sessions open (the limit is ${limit} per address).`;
    if (!frees.length) return new HttpError(429, "too_many_sessions", `${head} Close one (its saved config is kept) and try again.`, { "Retry-After": "30" });
    const secs = Math.max(1, Math.ceil((frees[0]! - Date.now()) / 1000));
    const lingering = frees.length === 1 ? "1 of them has" : `${frees.length} of them have`;
    return new HttpError(
      429,
      "too_many_sessions",
      `${head} ${lingering} no page connected and waits for a reconnect; the first ends in ${secs} s. Try again then, or close a session you still have open (its saved config is kept).`,
      { "Retry-After": String(secs) },
    );
  }

  /**
   * The user ends a session (DELETE /api/sessions/:id): the latest config is stored, then
   * the session ends. Ending an ended session is a no-op; the record is returned either way.
   */
  async end(id: string): Promise<SessionRecord> {
    const rec = this.record(id);
    if (!rec) throw notFound("unknown_session", "No such session. Session ids come from POST /api/sessions.");
    const live = this.live.get(id);
    if (!live) return rec;
    await live.close();
    return this.record(id)!;
  }

  /** The session's page is going away (its pagehide beacon): a dropped socket now waits only briefly. */
  pageLeft(id: string): void {
    if (!this.record(id)) throw notFound("unknown_session", "No such session. Session ids come from POST /api/sessions.");
    this.live.get(id)?.pageLeft();
  }

  /** Begin priming sessions for the trees sessions are started for (kbs serve only). */
  startPriming(): void {
    this.primer.start();
  }

  /**
   * What a session on this tree launches. The key is everything that determines the
   * launch: sessions with the same key can take each other's primed session.
   */
  private async launchSpec(projectId: string, recipe: Recipe, kconfigHash: string, arch: string | undefined, withConfig: boolean): Promise<LaunchSpec> {
    const bundle = this.deps.bundles.path(kconfigHash);
    const files = await bundleFiles(bundle);
    const own = await this.deps.kconfig.treeBinaries.get(recipe, kconfigHash, bundle, files);
    const frontend = chooseFrontend(recipe, files, own?.mconf, "/kbs/out/.config");
    const job: LaunchSpec["job"] = {
      extract: own ? [`/kbs/in/${IN_BUNDLE}`, `/kbs/in/${IN_TOOLS}`] : [`/kbs/in/${IN_BUNDLE}`],
      copy: withConfig ? [{ from: `/kbs/in/${IN_CONFIG}`, to: "/kbs/out/.config" }] : [],
      cwd: "/work",
      argv: frontend.argv,
      // The tree's probed environment (KERNELVERSION, CC_VERSION_TEXT) as its Makefile sets it for a local menuconfig.
      env: { ...kconfigEnv(recipe, arch), ...own?.env, KCONFIG_CONFIG: "/kbs/out/.config", [recipe.configVar]: "/kbs/out/.config", srctree: "/work" },
    };
    return { key: JSON.stringify([projectId, kconfigHash, recipe.images.menuconfig, job]), kconfigHash, bundle, tools: own?.tar, image: recipe.images.menuconfig, frontend, job };
  }

  /** A sandbox from the pool with the tree's bundle (and built tools, and the starting config) in its /kbs/in. */
  private async sandboxFor(spec: LaunchSpec, startText: string | undefined): Promise<WarmSandbox> {
    const sandbox = await this.deps.sandbox.claim({ image: spec.image });
    try {
      linkOrCopy(spec.bundle, path.join(sandbox.inDir, IN_BUNDLE));
      if (spec.tools) linkOrCopy(spec.tools, path.join(sandbox.inDir, IN_TOOLS));
      if (startText !== undefined) fs.writeFileSync(path.join(sandbox.inDir, IN_CONFIG), startText);
    } catch (e) {
      await sandbox.kill();
      throw e;
    }
    return sandbox;
  }

  private sessionOptions(spec: LaunchSpec, sandbox: WarmSandbox): SessionOptions {
    const limits = this.deps.settings.sessions;
    return {
      kconfigHash: spec.kconfigHash,
      sandbox,
      frontend: spec.frontend,
      job: spec.job,
      limits: { idleMs: limits.idleSec * 1000, maxMs: limits.maxSec * 1000, graceMs: limits.graceSec * 1000 },
      flow: { high: DEFAULT_HIGH_WATERMARK, low: DEFAULT_LOW_WATERMARK },
      dataDir: this.deps.settings.dataDir,
    };
  }

  /** A session launched on the tree with no client, no id and no starting config, held by the primer until handed over. */
  private async prime(spec: LaunchSpec, hooks: PrimeHooks): Promise<Session> {
    const sandbox = await this.sandboxFor(spec, undefined);
    const notYet = () => Promise.reject(new Error("a primed session stores nothing before it is handed over"));
    const holder: SessionOwner = { id: "", startText: undefined, store: notYet, complete: notYet, onEnd: () => hooks.onEnd() };
    return new Session(this.sessionOptions(spec, sandbox), holder, { ...PRIME_SIZE, quietMs: PRIME_QUIET_MS, onReady: hooks.onReady });
  }

  /** The session's latest saved config text, live or ended. */
  savedConfig(id: string): string {
    const rec = this.record(id);
    if (!rec) throw notFound("unknown_session", "No such session. Session ids come from POST /api/sessions.");
    if (!rec.configId) throw notFound("no_config_yet", "This session has no saved config yet: save in menuconfig (S, or Q then Y), or send {\"type\":\"save\"} over its WebSocket.");
    return this.deps.configs.require(rec.configId).text;
  }

  async close(): Promise<void> {
    await Promise.all([
      this.primer.close(),
      ...[...this.live.values()].map((s) => s.end("shutdown", "server_shutdown", "The server is shutting down; this session is closed. Saved configs are kept.")),
    ]);
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
