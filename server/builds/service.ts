import os from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import fs from "node:fs";
import path from "node:path";
import { apiPath } from "../../contracts/urls";
import { storedConfigRunsCode } from "../configs/runs-code";
import type { Db } from "../core/db";
import { isDiskFull } from "../core/disk-full";
import { log } from "../core/log";
import { loadRecipes, type Recipe } from "../core/recipe";
import type { Settings } from "../core/settings";
import { ArtifactStore } from "./artifacts";
import { buildLimits, readyTree, runBuild } from "./builder";
import { CompilerCache } from "./ccache";
import { treeCacheFor, type TreeCache } from "./tree-cache";
import { DiskReserve } from "../core/disk-reserve";
import { removeStaleWorkDirs, runJanitor } from "./janitor";
import { inputValues, resolveInputs } from "./inputs";
import { buildKey, imageId, sha256 } from "./key";
import { BuildLogs } from "./logs";
import { buildDuration, buildsTotal, cacheHits, reportQueueDepth } from "./metrics";
import { EmbeddedQueue, workerGone, workerName } from "./queue/embedded";
import { RedisQueue } from "./queue/redis";
import type { BuildQueue, Job } from "./queue/types";
import { BuildStore, type Finish } from "./store";
import { isFinal, type BuildDeps, type BuildRevision, type BuildRow, type BuildView, type Manifest, type Verification } from "./types";
import { compareRebuild } from "./verify";
import { KbsError, conflict, invalid, notFound } from "../core/errors";

export interface BuildRequest {
  project: string;
  rev: string;
  configId: string;
  /** Who asked (the client address): per-client queue limits. */
  client: string;
}

/** Thrown out of a job handler when this worker stops: the job goes back for another worker. */
class ShuttingDown extends Error {}

/**
 * The build backend (DESIGN.md "Builds"): requests keyed and deduplicated, a queue
 * with two engines, sandboxed workers, content-addressed artifacts, logs, janitor.
 */
export class BuildService {
  readonly store: BuildStore;
  readonly artifacts: ArtifactStore;
  private readonly ccache: CompilerCache;
  private readonly trees: TreeCache;
  private readonly reserve: DiskReserve;
  readonly logs: BuildLogs;
  readonly queue: BuildQueue;
  private running = new Map<string, AbortController>();
  private verifying = new Map<string, { ac: AbortController; job: Promise<void> }>();
  private pendingKeys = new Map<string, Promise<{ hash: string; inputValues: Record<string, string> }>>();
  private timers: NodeJS.Timeout[] = [];
  private stopping = false;

  constructor(
    private settings: Settings,
    db: Db,
    private deps: BuildDeps,
    opts: { redisUrl?: string } = {},
  ) {
    this.store = new BuildStore(db);
    this.artifacts = new ArtifactStore(settings.dataDir);
    this.ccache = new CompilerCache(settings.dataDir);
    this.trees = treeCacheFor(settings);
    this.reserve = new DiskReserve(settings.dataDir);
    this.reserve.ensure();
    this.logs = new BuildLogs(settings.dataDir);
    const redisUrl = opts.redisUrl ?? settings.redisUrl;
    this.queue = redisUrl ? new RedisQueue(this.store, redisUrl) : new EmbeddedQueue(this.store);
    reportQueueDepth(() => this.store.queuedCount());
  }

  /** POST /api/builds: a new build (created), the running or queued identical one (joined), or the finished one (cached). */
  async request(r: BuildRequest): Promise<{ build: BuildView; outcome: "created" | "joined" | "cached" }> {
    const project = this.deps.projects.require(r.project);
    const revision = this.deps.revdb.resolve(project.id, r.rev);
    const config = this.deps.configs.require(r.configId);
    if (config.project !== project.id) {
      throw invalid("config_project_mismatch", `Config ${config.id.slice(0, 8)} belongs to project '${config.project}', not '${project.id}'. Save a config for ${project.id} first.`);
    }
    const recipe = project.recipe;
    const image = imageId(recipe.build.image);
    const olddef = await this.configHash(project.id, revision, config, recipe);
    const inputs = resolveInputs(recipe, olddef.inputValues, this.store);
    const key = buildKey({ project: project.id, commit: revision.sha, configHash: olddef.hash, recipe: recipe.id, recipeVersion: recipe.version, image, inputs, externals: project.externals });
    const { build, outcome } = this.store.createOrJoin(
      { key, project: project.id, rev: r.rev, commit: revision.sha, describe: revision.describe, configId: config.id, recipe: recipe.id, recipeVersion: recipe.version, image, client: r.client, inputs },
      { queueMax: this.settings.builds.queueMax, clientMax: this.settings.builds.clientMax, retryAfter: () => this.retryAfter(recipe.id, recipe.version) },
    );
    if (outcome === "created") {
      // A worker here unpacks the commit's ready tree: have it made while the build waits in the queue (the build waits for the same one).
      if (this.settings.buildWorkers > 0) readyTree({ settings: this.settings, deps: this.deps, trees: this.trees }, recipe, revision.sha).catch((e: unknown) => log.debug({ err: e, commit: revision.sha }, "ready tree not made ahead; the build makes it"));
      await this.handOver(build.id);
    }
    if (outcome === "cached") cacheHits.inc();
    return { build: this.view(build, outcome === "cached"), outcome };
  }

  /**
   * A sync's last phase: the ready work trees of the project's newest named commits, so the
   * first build of a release or a branch head unpacks one instead of making it (seconds on a
   * Klipper-sized tree). Only where this process builds; remote workers make their own.
   */
  async prepareTrees(projectId: string, progress: (done: number, total: number) => void): Promise<void> {
    const limit = this.settings.builds.readyTreesAfterSync;
    if (!limit || this.settings.buildWorkers === 0) return;
    const { recipe } = this.deps.projects.require(projectId);
    const commits = this.deps.revdb.namedCommits(projectId, limit);
    progress(0, commits.length);
    for (const [i, commit] of commits.entries()) {
      if (this.stopping) return;
      await readyTree({ settings: this.settings, deps: this.deps, trees: this.trees }, recipe, commit);
      progress(i + 1, commits.length);
    }
  }

  /** Give a new build to the queue; if the queue cannot take it, the build fails at once and the client may retry. */
  private async handOver(id: string): Promise<void> {
    try {
      await Promise.race([this.queue.enqueue(id), sleep(10_000).then(() => Promise.reject(new Error("no answer in 10 s")))]);
    } catch (e) {
      log.error({ err: e, build: id }, "could not queue a build");
      this.store.abandon(id, `The build queue could not take the build (${(e as Error).message}). Request it again.`);
      throw new KbsError("unavailable", "queue_unavailable", "The build queue is not reachable right now; try again in a minute.", { retryAfterSec: 60 });
    }
  }

  /**
   * The hash of the config as the build will see it (after olddefconfig, normalised), so
   * configs that differ only in defaults share builds, and the recipe's input symbols as
   * olddefconfig left them. Once per (config, commit, recipe); concurrent identical
   * requests wait for the same olddefconfig run.
   */
  private async configHash(project: string, revision: BuildRevision, config: { id: string; text: string; kconfigHash: string; written?: string }, r: Recipe): Promise<{ hash: string; inputValues: Record<string, string> }> {
    const recipe = `${r.id}@${r.version}`;
    const known = this.store.configHash(config.id, revision.sha, recipe);
    if (known) return known;
    const k = `${config.id}/${revision.sha}/${recipe}`;
    let p = this.pendingKeys.get(k);
    if (!p) {
      p = (async () => {
        try {
          // What the tree's tools wrote for this config on this Kconfig tree (a menuconfig save, an upload's completion)
          // is its olddefconfig already: no sandbox on the request's path. A tree whose Kconfig depends on the session's
          // ARCH (recipe `arches`) is completed for the build's ARCH instead.
          const written = config.written !== undefined && config.kconfigHash === revision.kconfigHash && !r.arches.length ? config.written : undefined;
          const text = written ?? (await this.deps.kconfig.olddefconfig(project, revision, config.text));
          const done = { hash: sha256(this.deps.configs.normalise(text, project)), inputValues: inputValues(r, text) };
          this.store.saveConfigHash(config.id, revision.sha, recipe, done.hash, done.inputValues);
          return done;
        } catch (e) {
          // The build runs olddefconfig again and fails at that step with the whole log.
          log.info({ err: e, config: config.id }, "olddefconfig failed at request time; keying the build on the stored config");
          return { hash: sha256(`unresolved\n${this.deps.configs.normalise(config.text, project)}`), inputValues: inputValues(r, config.text) };
        } finally {
          this.pendingKeys.delete(k);
        }
      })();
      this.pendingKeys.set(k, p);
    }
    return p;
  }

  get(id: string): BuildRow | undefined {
    return this.store.get(id);
  }

  require(id: string): BuildRow {
    const b = this.store.get(id);
    if (!b) throw notFound("unknown_build", `There is no build ${id}: check the id, which requesting a build returns.`);
    return b;
  }

  view(b: BuildRow, cached = false): BuildView {
    const mean = this.store.meanDurationMs(b.recipe, b.recipeVersion);
    const queuePosition = b.state === "queued" ? this.store.position(b.id) : null;
    let eta: number | null = null;
    // Rounded up: a queued build does not end within 0 s, however short past builds were.
    if (mean !== null && queuePosition !== null) eta = Math.ceil(((Math.floor((queuePosition - 1) / this.workerCount()) + 1) * mean) / 1000);
    if (mean !== null && b.state === "running" && b.startedAt) eta = Math.max(0, Math.round((Date.parse(b.startedAt) + mean - Date.now()) / 1000));
    return {
      id: b.id,
      state: b.state,
      project: b.project,
      rev: b.rev,
      commit: b.commit,
      describe: b.describe,
      configId: b.configId,
      runsCode: storedConfigRunsCode(this.deps.configs.require(b.configId)),
      recipe: { id: b.recipe, version: b.recipeVersion },
      cached,
      queuePosition,
      eta,
      attempt: b.attempt,
      failedStep: b.failedStep,
      errorSummary: b.errorSummary,
      artifacts: b.expired ? [] : b.artifacts.map((a) => ({ ...a, url: apiPath.artifact(b.id, a.name) })),
      manifest: b.expired ? null : this.manifest(b),
      pinned: b.pinned,
      expired: b.expired,
      reproducible: b.verification?.reproducible ?? null,
      verification: b.verification,
      logUrl: apiPath.buildLog(b.id),
      createdAt: b.createdAt,
      startedAt: b.startedAt,
      finishedAt: b.finishedAt,
    };
  }

  manifest(b: BuildRow): Manifest | null {
    const m = b.artifacts.find((a) => a.name === "manifest.json");
    if (!m || !this.artifacts.has(m.sha256)) return null;
    return JSON.parse(fs.readFileSync(this.artifacts.path(m.sha256), "utf8")) as Manifest;
  }

  /** The stored file of one artifact of a build. */
  artifact(b: BuildRow, name: string): { file: string; size: number; sha256: string; downloadName: string } {
    if (b.expired) throw new KbsError("gone", "build_expired", `Build ${b.id} has expired and its files were removed; request the build again to rebuild it.`);
    const a = b.artifacts.find((x) => x.name === name);
    if (!a) {
      const names = b.artifacts.map((x) => x.name).join(", ") || "none yet";
      throw notFound("unknown_artifact", `Build ${b.id} has no artifact '${name}' (it has: ${names}).`);
    }
    const safe = (s: string) => s.replace(/[^A-Za-z0-9._+-]+/g, "_");
    return { file: this.artifacts.path(a.sha256), size: a.size, sha256: a.sha256, downloadName: safe(`${b.project}-${b.describe}-${b.configId.slice(0, 8)}-${a.name}`) };
  }

  cancel(id: string): BuildRow {
    this.require(id);
    const b = this.store.cancel(id)!;
    this.running.get(id)?.abort();
    this.logs.ended(id);
    return b;
  }

  /**
   * POST /api/builds/:id/verify: rebuild a succeeded build's key on a fresh work tree without
   * ccache, in the background, and record whether every artifact came out the same. A verify
   * already running is joined (one UPDATE decides, across processes). 409 for a build that did
   * not succeed, 410 for an expired one (its artifacts are gone, nothing to compare with).
   */
  verify(id: string): { build: BuildRow; started: boolean } {
    const b = this.require(id);
    if (b.expired) throw new KbsError("gone", "build_expired", `Build ${b.id} has expired and its files were removed, so there is nothing to compare a rebuild with; request the build again, then verify the new one.`);
    if (b.state !== "succeeded") {
      const why = isFinal(b.state)
        ? `${b.state.replace("_", " ")}${b.failedStep ? ` at step '${b.failedStep}'` : ""}; only a build that succeeded can be verified. Fix the config and build again`
        : `is still ${b.state}; only a build that succeeded can be verified: verify it once it has`;
      throw conflict("build_not_succeeded", `Build ${b.id} ${why}.`);
    }
    const startedAt = new Date().toISOString();
    const running: Verification = { state: "running", reproducible: null, differences: [], error: null, startedAt, finishedAt: null };
    // A verification left running by a process that died is taken over once it is older than any build may run.
    const limit = buildLimits(this.settings, this.deps.projects.require(b.project).recipe).timeoutSec;
    const started = this.store.startVerification(b.id, running, new Date(Date.now() - 2000 * limit).toISOString());
    if (started) {
      const ac = new AbortController();
      const job = (async () => {
        const jobs = Math.max(1, Math.floor(os.availableParallelism() / this.workerCount()));
        const ctx = { settings: this.settings, deps: this.deps, builds: this.store, artifacts: this.artifacts, ccache: this.ccache, trees: this.trees, logs: this.logs, jobs, worker: workerName() };
        let v: Verification;
        try {
          const rebuilt = await runBuild(ctx, b, 1, ac.signal, { verify: true, logId: `${b.id}-verify` });
          v = compareRebuild(this.artifacts, b.artifacts, rebuilt, startedAt);
        } catch (e) {
          v = { ...running, state: "failed", error: `kbs could not run the rebuild: ${(e as Error).message}`, finishedAt: new Date().toISOString() };
        }
        this.store.finishVerification(b.id, v);
        log.info({ build: b.id, reproducible: v.reproducible, differences: v.differences.map((d) => d.name) }, "build verified");
      })();
      this.verifying.set(b.id, { ac, job });
      void job.finally(() => this.verifying.delete(b.id));
    }
    return { build: this.store.get(b.id)!, started };
  }

  pin(id: string): BuildRow {
    this.require(id);
    this.store.pin(id);
    return this.store.get(id)!;
  }

  /** Follow a build's log from the start until the build ends. */
  followLog(id: string, signal?: AbortSignal): AsyncGenerator<Buffer> {
    return this.logs.follow(id, () => isFinal(this.store.state(id) ?? "failed"), signal);
  }

  private workerCount(): number {
    return Math.max(1, this.settings.buildWorkers);
  }

  private retryAfter(recipe: string, version: number): number {
    const mean = this.store.meanDurationMs(recipe, version) ?? 60_000;
    return Math.max(1, Math.round(((Math.floor(this.store.queuedCount() / this.workerCount()) + 1) * mean) / 1000));
  }

  /** Start `n` workers here: embedded ones first re-queue what a dead process left running. */
  async startWorkers(n = this.settings.buildWorkers): Promise<void> {
    if (this.queue.engine === "embedded") {
      const orphans = this.store.requeueOrphans(workerGone);
      if (orphans.length) log.info({ builds: orphans }, "re-queued builds left running by a stopped process");
    } else {
      // Jobs Redis lost (or never got) are given again; BullMQ ignores ids it still holds.
      for (const id of this.store.unfinishedIds()) {
        await this.queue.enqueue(id).catch((e: unknown) => log.warn({ err: e, build: id }, "could not hand a build back to the Redis queue; it is retried at the next start"));
      }
    }
    if (n <= 0) return;
    const jobs = Math.max(1, Math.floor(os.availableParallelism() / n));
    await this.queue.work(n, (job) => this.process(job, jobs));
  }

  private async process(job: Job, jobs: number): Promise<void> {
    const build = this.store.get(job.id);
    if (!build || build.state !== "running") return;
    const ac = new AbortController();
    this.running.set(job.id, ac);
    // Cancellation may come from another process (the API server while this is `kbs worker`).
    const watch = setInterval(() => {
      if (this.store.state(job.id) === "cancelled") ac.abort();
    }, 1000);
    try {
      const finish = await runBuild(
        { settings: this.settings, deps: this.deps, builds: this.store, artifacts: this.artifacts, ccache: this.ccache, trees: this.trees, logs: this.logs, jobs, worker: workerName() },
        build,
        job.attempt,
        ac.signal,
      );
      if (this.stopping && finish.state === "cancelled" && this.store.state(job.id) === "running") {
        this.store.requeue(job.id, job.attempt);
        throw new ShuttingDown("worker stopping");
      }
      this.finishAttempt(job.id, job.attempt, finish);
    } catch (e) {
      if (e instanceof ShuttingDown) throw e;
      log.error({ err: e, build: job.id }, "build worker error");
      this.store.finish(job.id, job.attempt, { state: "failed", failedStep: "internal", errorSummary: `kbs could not run the build: ${(e as Error).message}` });
    } finally {
      clearInterval(watch);
      this.running.delete(job.id);
    }
  }

  /** Record the end of an attempt (a worker here, or a remote one through the API) and count it; false when it no longer counts. */
  finishAttempt(id: string, attempt: number, finish: Finish): boolean {
    const recorded = this.recordFinish(id, attempt, finish);
    this.logs.ended(id);
    if (recorded) {
      buildsTotal.inc({ state: finish.state });
      const done = this.store.get(id)!;
      if (done.startedAt && done.finishedAt) buildDuration.observe({ recipe: done.recipe, state: finish.state }, (Date.parse(done.finishedAt) - Date.parse(done.startedAt)) / 1000);
    } else if (this.store.state(id) === "cancelled") {
      buildsTotal.inc({ state: "cancelled" });
    }
    return recorded;
  }

  /** The final state, written even on a full data disk (then from the disk reserve). */
  private recordFinish(id: string, attempt: number, finish: Finish): boolean {
    try {
      return this.store.finish(id, attempt, finish);
    } catch (e) {
      if (!isDiskFull(e) || !this.reserve.release()) throw e;
      log.warn({ build: id }, "the data disk is full: released the disk reserve to record the build's final state");
      return this.store.finish(id, attempt, finish);
    }
  }

  /** Background work of `kbs serve`: workers and the janitor. */
  async start(): Promise<void> {
    await this.startWorkers();
    this.janitor();
    const t = setInterval(() => this.janitor(), 15 * 60_000);
    t.unref();
    this.timers.push(t);
  }

  janitor() {
    this.reserve.ensure();
    try {
      const r = runJanitor(this.store, this.artifacts, this.logs, {
        keepDays: this.settings.builds.keepDays,
        budgetBytes: this.settings.builds.storeBudgetMB * 1024 * 1024,
        graceMs: 3600_000,
      });
      // Older than any build may run: a day, or twice the longest recipe time limit.
      const longest = Math.max(...[...loadRecipes().values()].map((r) => r.build.timeoutSec));
      const staleWorkDirs = removeStaleWorkDirs(path.join(this.settings.dataDir, "build-work"), Math.max(86_400_000, 2000 * longest));
      if (r.expired || r.removedBlobs || staleWorkDirs) log.info({ ...r, staleWorkDirs }, "build janitor");
      return r;
    } catch (e) {
      log.warn({ err: e }, "build janitor failed");
      return undefined;
    }
  }

  /** Stop: running builds are killed and go back to the queue for the next worker. */
  async close(): Promise<void> {
    this.stopping = true;
    for (const t of this.timers) clearInterval(t);
    for (const ac of this.running.values()) ac.abort();
    for (const v of this.verifying.values()) v.ac.abort();
    await Promise.all([...this.verifying.values()].map((v) => v.job));
    await this.queue.close();
    await this.ccache.settled();
  }
}
