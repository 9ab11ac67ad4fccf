import crypto from "node:crypto";
import { bundleFiles } from "../configs/bundle-files";
import { kconfigEnv } from "../configs/kconfig-env";
import type { KconfigTools } from "../configs/kconfig-tools";
import { placeInputs } from "../sandbox/stage";
import type { ConfigStore } from "../configs/store";
import type { Db } from "../core/db";
import { invalid, notFound } from "../core/errors";
import { GUEST_IN, GUEST_OUT } from "../core/guest-paths";
import { log } from "../core/log";
import { counter, gauge } from "../core/metrics";
import type { Recipe } from "../core/recipe";
import type { LaunchJob, PoolKey, WarmSandbox } from "../sandbox/types";
import type { Settings } from "../core/settings";
import { socketPath } from "../../contracts/urls";
import { Admission } from "./admission";
import { DEFAULT_HIGH_WATERMARK, DEFAULT_LOW_WATERMARK } from "./flow";
import { chooseFrontend, type Frontend } from "./frontend";
import { Primer, type PrimeHooks } from "./primer";
import { PRIME_QUIET_MS, PRIME_SIZE } from "./priming";
import { Session, type EndReason, type SessionOptions, type SessionOwner } from "./session";
import { SessionStore, type SessionRecord } from "./store";

export interface SessionDeps {
  settings: Settings;
  db: Db;
  projects: { require(id: string): { id: string; recipe: Recipe } };
  revdb: { resolve(project: string, rev: string): { sha: string; describe: string; kconfigHash: string } };
  bundles: { ensure(kconfigHash: string): Promise<string> };
  sandbox: { claim(key: PoolKey): Promise<WarmSandbox> };
  configs: ConfigStore;
  kconfig: KconfigTools;
}

type Revision = ReturnType<SessionDeps["revdb"]["resolve"]>;

export interface CreateSession {
  project: string;
  rev: string;
  configId?: string;
  arch?: string;
  clientAddress: string;
}

const active = gauge("kbs_sessions_active", "menuconfig sessions running now");
const total = counter("kbs_sessions_total", "menuconfig sessions started");
const ended = counter("kbs_sessions_ended_total", "menuconfig sessions ended, by reason", ["reason"]);

/** Where the bundle and the starting config go in the sandbox (its /kbs/in), and where menuconfig writes. */
const IN_BUNDLE = "bundle.tar";
const IN_CONFIG = "config";
const IN_TOOLS = "tree-bins.tar";
/**
 * Priming waits this long after a session start, whose own first frame needs the CPU more (a
 * hand-over's is a redraw, done well within it). The starts of a burst served by primed
 * sessions come within it, so their replacements launch together and draw together.
 */
const PRIME_DELAY_MS = 300;

const unknownSession = () => notFound("unknown_session", "No such session: the id is wrong, or the session belongs to another kbs server. Start a new session; saved configs are kept.");

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
 * Menuconfig sessions: creation (admission, revision -> kconfig bundle -> a primed
 * session or a warm sandbox), the sessions live in this process, and their record
 * (store.ts).
 */
export class SessionManager {
  private readonly live = new Map<string, Session>();
  private readonly admission: Admission;
  private readonly store: SessionStore;
  private readonly primer: Primer;

  constructor(private readonly deps: SessionDeps) {
    const limits = deps.settings.sessions;
    this.admission = new Admission(limits, (id) => this.live.get(id)?.lingersUntil);
    this.primer = new Primer({ trees: limits.primedTrees, memoryMB: limits.primedMemoryMB, idleMs: limits.idleSec * 1000, delayMs: PRIME_DELAY_MS });
    this.store = new SessionStore(deps.db);
  }

  get(id: string): Session | undefined {
    return this.live.get(id);
  }

  record(id: string): SessionRecord | undefined {
    return this.store.get(id);
  }

  get activeCount(): number {
    return this.live.size;
  }

  async create(req: CreateSession): Promise<{ id: string; wsPath: string; kconfigHash: string }> {
    const admitted = this.admission.admit(req.clientAddress);
    const { id, session, revision } = await this.start(req).catch((e: unknown) => {
      admitted.cancelled();
      throw e;
    });
    this.live.set(id, session);
    admitted.started(id);
    active.set(this.live.size);
    total.inc();
    log.info({ session: id, project: req.project, commit: revision.sha, frontend: session.frontendSource, sandbox: session.sandboxId, primed: session.primed }, "session started");
    return { id, wsPath: socketPath.session(id), kconfigHash: revision.kconfigHash };
  }

  /**
   * The user ends a session (DELETE /api/sessions/:id): the latest config is stored, then
   * the session ends. Ending an ended session is a no-op; the record is returned either way.
   */
  async end(id: string): Promise<SessionRecord> {
    const rec = this.record(id);
    if (!rec) throw unknownSession();
    const live = this.live.get(id);
    if (!live) return rec;
    await live.close();
    return this.record(id)!;
  }

  /** The session's page is going away (its pagehide beacon): a dropped socket now waits only briefly. */
  pageLeft(id: string): void {
    if (!this.record(id)) throw unknownSession();
    this.live.get(id)?.pageLeft();
  }

  /** Begin priming sessions for the trees sessions are started for (kbs serve only). */
  startPriming(): void {
    this.primer.start();
  }

  /**
   * The session's latest saved config, live or ended, as the tree's tools wrote it (what a
   * download serves; the canonical text for a starting config nobody has had written yet).
   */
  savedConfig(id: string): string {
    const rec = this.record(id);
    if (!rec) throw unknownSession();
    if (!rec.configId) throw notFound("no_config_yet", "This session has no saved config yet: save it in menuconfig first (S, or Q then Y; in the portal also its Save button).");
    const c = this.deps.configs.require(rec.configId);
    return c.written ?? c.text;
  }

  async close(): Promise<void> {
    await Promise.all([
      this.primer.close(),
      ...[...this.live.values()].map((s) => s.end("shutdown", "server_shutdown", "The server is shutting down; this session is closed. Saved configs are kept.")),
    ]);
  }

  /**
   * Look the request up, get its session (a primed one or a fresh one) and record it. A
   * session that started but could not be recorded ends by itself: nobody knows its id,
   * so its grace period runs out.
   */
  private async start(req: CreateSession): Promise<{ id: string; session: Session; revision: Revision }> {
    const project = this.deps.projects.require(req.project);
    const revision = this.deps.revdb.resolve(req.project, req.rev);
    const startText = this.startText(req);
    const spec = await this.launchSpec(req.project, project.recipe, revision.kconfigHash, req.arch, startText !== undefined);
    // 144 random bits: session ids are capabilities (whoever has one can type into it).
    const id = crypto.randomBytes(18).toString("base64url");
    const session = await this.startSession(spec, this.owner(id, req, revision, startText), req.project);
    this.store.add({ id, project: req.project, rev: req.rev, commit: revision.sha, describe: revision.describe, kconfigHash: revision.kconfigHash, client: req.clientAddress, configId: req.configId });
    return { id, session, revision };
  }

  /** The stored config a session starts from, if the request names one (of the same project). */
  private startText(req: CreateSession): string | undefined {
    if (!req.configId) return undefined;
    const c = this.deps.configs.require(req.configId);
    if (c.project !== req.project) throw invalid("config_project_mismatch", `Config ${req.configId.slice(0, 12)}… belongs to project '${c.project}', not '${req.project}'.`);
    return c.text;
  }

  /** Whose the session is: where its saves go, how a save before menuconfig wrote is completed, what its end updates. */
  private owner(id: string, req: CreateSession, revision: Revision, startText: string | undefined): SessionOwner {
    return {
      id,
      startText,
      store: async (text) => {
        // What menuconfig wrote (or the tree's olddefconfig): kept as written, served for downloads and /c/:id.
        const { id: configId } = this.deps.configs.put({ project: req.project, commit: revision.sha, rev: req.rev, text, written: true });
        this.store.saved(id, configId);
        return configId;
      },
      complete: (text) => this.deps.kconfig.olddefconfig(req.project, revision, text, { arch: req.arch }),
      onEnd: (reason) => this.ended(id, reason),
    };
  }

  /**
   * A session from a stored config starts from it in a sandbox of its own; one from the
   * tree's defaults can be a primed one (ready, or launching: then this start waits for
   * it, as it is ahead of a fresh one), and keeps the tree primed.
   */
  private async startSession(spec: LaunchSpec, owner: SessionOwner, project: string): Promise<Session> {
    let session: Session;
    if (owner.startText === undefined) {
      const primed = await this.primer.take(spec.key, project);
      primed?.handOver(owner);
      session = primed ?? new Session(this.sessionOptions(spec, await this.sandboxFor(spec, undefined)), owner);
      this.primer.used(spec.key, project, (hooks) => this.prime(spec, hooks), session);
    } else session = new Session(this.sessionOptions(spec, await this.sandboxFor(spec, owner.startText)), owner);
    return session;
  }

  /**
   * What a session on this tree launches. The key is everything that determines the
   * launch: sessions with the same key can take each other's primed session.
   */
  private async launchSpec(projectId: string, recipe: Recipe, kconfigHash: string, arch: string | undefined, withConfig: boolean): Promise<LaunchSpec> {
    const bundle = await this.deps.bundles.ensure(kconfigHash);
    const files = await bundleFiles(bundle);
    const own = await this.deps.kconfig.treeBinaries.get(recipe, kconfigHash, bundle, files);
    const config = `${GUEST_OUT}/.config`;
    const frontend = chooseFrontend(recipe, files, own?.mconf, config);
    const job: LaunchSpec["job"] = {
      extract: own ? [`${GUEST_IN}/${IN_BUNDLE}`, `${GUEST_IN}/${IN_TOOLS}`] : [`${GUEST_IN}/${IN_BUNDLE}`],
      copy: withConfig ? [{ from: `${GUEST_IN}/${IN_CONFIG}`, to: config }] : [],
      cwd: "/work",
      argv: frontend.argv,
      // The tree's probed environment (KERNELVERSION, CC_VERSION_TEXT) as its Makefile sets it for a local menuconfig.
      env: { ...kconfigEnv(recipe, arch), ...own?.env, KCONFIG_CONFIG: config, [recipe.configVar]: config, srctree: "/work" },
    };
    return { key: JSON.stringify([projectId, kconfigHash, recipe.images.menuconfig, job]), kconfigHash, bundle, tools: own?.tar, image: recipe.images.menuconfig, frontend, job };
  }

  /** A sandbox from the pool with the tree's bundle (and built tools, and the starting config) in its /kbs/in. */
  private async sandboxFor(spec: LaunchSpec, startText: string | undefined): Promise<WarmSandbox> {
    const sandbox = await this.deps.sandbox.claim({ image: spec.image });
    try {
      placeInputs(sandbox.inDir, {
        [IN_BUNDLE]: { link: spec.bundle },
        ...(spec.tools ? { [IN_TOOLS]: { link: spec.tools } } : {}),
        ...(startText !== undefined ? { [IN_CONFIG]: startText } : {}),
      });
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

  private ended(id: string, reason: EndReason): void {
    this.live.delete(id);
    this.admission.ended(id);
    active.set(this.live.size);
    ended.inc({ reason });
    this.store.ended(id, reason);
    log.info({ session: id, reason }, "session ended");
  }
}
