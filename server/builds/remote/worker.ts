import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { DelayedError, Worker } from "bullmq";
import IORedis from "ioredis";
import { apiPath } from "../../../contracts/urls";
import { log } from "../../core/log";
import { RecipeSchema, type Recipe } from "../../core/recipe";
import { backendCheck, imageCheck } from "../../sandbox/doctor";
import type { SandboxService } from "../../sandbox/service";
import type { Settings } from "../../core/settings";
import { ArtifactStore } from "../artifacts";
import { runBuild } from "../builder";
import { treeCacheFor, type TreeCache } from "../tree-cache";
import { CompilerCache } from "../ccache";
import { imageId } from "../key";
import { BuildLogs } from "../logs";
import { QUEUE, queueTiming } from "../queue/redis";
import type { Finish } from "../store";
import type { ArtifactRef, BuildRow } from "../types";
import { BadToken, ServerClient, ServerRefused } from "./client";
import type { RemoteJob } from "./jobs";
import { WorkerMirror } from "./mirror";

const MB = 1024 * 1024;

/**
 * The log of one remote attempt: written to the worker's own data dir (the builder reads
 * its tail for the error summary) and shipped to the server as it grows, a chunk at least
 * every few hundred ms, so the build page follows it as for a local worker. The server's
 * answer says when the build was cancelled.
 */
class ShippedLogs extends BuildLogs {
  private pending: Buffer[] = [];
  private timer: NodeJS.Timeout | undefined;
  private sending: Promise<void> = Promise.resolve();

  constructor(
    dataDir: string,
    private api: ServerClient,
    private id: string,
    private attempt: number,
    private onCancelled: () => void,
  ) {
    super(dataDir);
    this.timer = setInterval(() => void this.flush(), 300);
  }

  override writer(id: string, maxBytes?: number): { write(text: string | Buffer): void; close(): Promise<void> } {
    const local = super.writer(id, maxBytes);
    return {
      write: (text) => {
        local.write(text);
        this.pending.push(Buffer.from(text));
      },
      close: async () => {
        await local.close();
        await this.flush();
      },
    };
  }

  /** Send what is pending (also an empty chunk: the worker's heartbeat, and how it hears of a cancel). */
  flush(): Promise<void> {
    const chunk = Buffer.concat(this.pending.splice(0));
    this.sending = this.sending.then(async () => {
      try {
        const res = await this.api.request("POST", apiPath.workerLog(this.id, this.attempt), { body: chunk, headers: { "Content-Type": "application/octet-stream" } });
        if (!((await res.json()) as { running: boolean }).running) this.onCancelled();
      } catch (e) {
        // Taken over or cancelled: the attempt's output no longer counts.
        if (e instanceof ServerRefused) this.onCancelled();
        else log.warn({ err: e, build: this.id }, "build log not sent");
      }
    });
    return this.sending;
  }

  async end(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }
}

export interface RemoteWorkerOptions {
  settings: Settings;
  sandbox: SandboxService;
  server: string;
  token: string;
  redisUrl?: string;
  slots: number;
}

/**
 * `kbs worker --server URL --token T`: build workers on any machine. Jobs come from the
 * shared BullMQ queue; each is claimed through the server's API, which hands over the
 * stored config, commit, recipe and image ids and input artifacts; sources come over git
 * from /git/<project> into this worker's mirror. The build runs exactly as on the server
 * (runBuild, with this worker's own data dir for the work, the ccache and a staging
 * artifact store); the log goes to the server as it runs, then each artifact with its
 * sha256 and size, manifest.json last, then the result. The worker never writes the
 * server's data dir or records: the server checks and stores what it is sent.
 */
export class RemoteWorker {
  readonly name = `${os.hostname()}:${process.pid}`;
  readonly api: ServerClient;
  private mirror: WorkerMirror;
  private ccache: CompilerCache;
  private trees: TreeCache;
  private worker: Worker | undefined;
  private connection: IORedis | undefined;
  private running = new Map<string, AbortController>();
  private usable = new Map<string, Promise<string | undefined>>();
  private refused: Record<string, string> = {};
  /** Recipes whose image passed the checks here (for GET /api/workers). */
  private recipes = new Set<string>();
  private heartbeat: NodeJS.Timeout | undefined;
  private stopping = false;

  constructor(private opts: RemoteWorkerOptions) {
    this.api = new ServerClient(opts.server.replace(/\/+$/, ""), opts.token, this.name);
    this.mirror = new WorkerMirror(path.join(opts.settings.dataDir, "git"), this.api.base, () => this.api.authHeader);
    this.ccache = new CompilerCache(opts.settings.dataDir);
    this.trees = treeCacheFor(opts.settings);
  }

  /** Say hello (checks the token), connect to the queue and start taking jobs. */
  async start(): Promise<{ redisUrl: string }> {
    const hello = await this.hello();
    const redisUrl = this.opts.redisUrl ?? hello.redisUrl ?? undefined;
    if (!redisUrl) throw new Error(`the server at ${this.api.base} runs the ${hello.engine} queue and named no Redis: start it with KBS_REDIS_URL, or give this worker --redis URL`);
    this.connection = new IORedis(redisUrl, { maxRetriesPerRequest: null });
    this.connection.on("error", () => {});
    this.worker = new Worker(QUEUE, (job, token) => this.take((job.data as { id: string }).id, async () => {
      await job.moveToDelayed(Date.now() + 1000, token);
      throw new DelayedError();
    }), { connection: this.connection, concurrency: this.opts.slots, lockDuration: queueTiming.lockMs, stalledInterval: queueTiming.stalledMs, maxStalledCount: 5 });
    this.worker.on("error", () => {});
    this.heartbeat = setInterval(() => void this.hello().catch((e: unknown) => log.warn({ err: e }, "the server did not take the worker's hello")), 5000);
    return { redisUrl };
  }

  private hello(): Promise<{ engine: string; redisUrl: string | null }> {
    return this.api.json("POST", apiPath.workerHello(), { slots: this.opts.slots, recipes: [...this.recipes], refused: this.refused, running: [...this.running.keys()] });
  }

  /** Why this machine cannot run the image (`kbs doctor`'s words), or undefined when it can. */
  private imageProblem(recipe: Recipe, serverImage: string): Promise<string | undefined> {
    const name = recipe.build.image;
    let p = this.usable.get(name);
    if (!p) {
      p = (async () => {
        const mine = imageId(name);
        if (mine !== serverImage) return `its image here is ${mine}, the server's is ${serverImage}: run the same kbs version on both`;
        const opts = { env: process.env, dataDir: this.opts.settings.dataDir };
        const failed = [await backendCheck(opts), await imageCheck(name, opts)].filter((c) => !c.ok);
        return failed.length ? `kbs doctor: ${failed.map((c) => `${c.name}: ${c.detail}${c.fix ? ` (fix: ${c.fix})` : ""}`).join("; ")}` : undefined;
      })();
      this.usable.set(name, p);
    }
    return p.then((why) => {
      if (why) this.refused[name] = why;
      else this.recipes.add(recipe.id);
      return why;
    });
  }

  private async take(id: string, handBack: () => Promise<never>): Promise<void> {
    let job: RemoteJob | { gone: true };
    try {
      job = await this.api.json<RemoteJob | { gone: true }>("POST", apiPath.workerClaim(id));
    } catch (e) {
      if (e instanceof BadToken) log.error(e.message);
      throw e;
    }
    if ("gone" in job) return;
    const recipe = RecipeSchema.parse(job.recipe);
    const problem = this.stopping ? "the worker is stopping" : await this.imageProblem(recipe, job.build.image);
    if (problem) {
      log.warn({ build: id, problem }, "refusing a build this machine cannot run");
      await this.api.json("POST", apiPath.workerRefuse(id, job.attempt), { reason: problem });
      return handBack();
    }
    const ac = new AbortController();
    this.running.set(id, ac);
    const logs = new ShippedLogs(this.opts.settings.dataDir, this.api, id, job.attempt, () => ac.abort());
    const artifacts = new ArtifactStore(path.join(this.opts.settings.dataDir, "jobs", `${id}-${job.attempt}`));
    try {
      const finish = await this.attempt(job, recipe, logs, artifacts, ac.signal);
      if (this.stopping && finish.state === "cancelled") {
        await logs.end();
        await this.api.json("POST", apiPath.workerRefuse(id, job.attempt), { reason: "the worker was stopped" }).catch(() => undefined);
        return handBack();
      }
      if (finish.state === "succeeded") await this.upload(job, finish.artifacts ?? [], artifacts, logs);
      await logs.end();
      await this.api.json("POST", apiPath.workerFinish(id, job.attempt), finish);
    } catch (e) {
      if (e instanceof DelayedError) throw e;
      await logs.end();
      // Taken over, cancelled, or failed by the server itself (sha256, manifest): the server's record says why.
      if (e instanceof ServerRefused && (e.status === 409 || e.status === 422)) {
        log.warn({ build: id, err: e.message }, "the server refused this attempt's result");
        return;
      }
      log.error({ err: e, build: id }, "remote build failed");
      await this.api
        .json("POST", apiPath.workerFinish(id, job.attempt), { state: "failed", failedStep: "internal", errorSummary: `The worker ${this.name} could not run the build: ${(e as Error).message}` })
        .catch(() => undefined);
    } finally {
      this.running.delete(id);
      fs.rmSync(path.join(this.opts.settings.dataDir, "jobs", `${id}-${job.attempt}`), { recursive: true, force: true });
      fs.rmSync(logs.path(id), { force: true });
    }
  }

  /** Sources and inputs, then the build itself, as the server's own workers run it. */
  private async attempt(job: RemoteJob, recipe: Recipe, logs: ShippedLogs, artifacts: ArtifactStore, signal: AbortSignal): Promise<Finish> {
    const { build } = job;
    const say = logs.writer(build.id);
    try {
      const fetched = await this.mirror.ensure(build.project, build.commit);
      const total = await this.mirror.objectsOf(build.project);
      say.write(
        `kbs: sources on worker ${this.name}: ${fetched.objects ? `fetched ${fetched.objects} new objects (${(fetched.bytes / 1024).toFixed(0)} KiB) in ${fetched.ms} ms` : "commit already in its mirror, nothing fetched"}; mirror holds ${total.count} objects\n`,
      );
      for (const ref of build.inputs) {
        if (!ref.sha256) continue;
        const got = await this.download(job, ref.symbol, artifacts);
        if (got !== ref.sha256) {
          const msg = `Input ${ref.symbol}=${ref.buildId}: the server sent '${ref.artifact}' with sha256 ${got}, not ${ref.sha256} as the build was keyed on; it was not used.`;
          say.write(`kbs: ${msg}\n`);
          return { state: "failed", failedStep: "inputs", errorSummary: msg };
        }
        say.write(`kbs: input ${ref.symbol}: ${ref.artifact} downloaded, sha256 verified\n`);
      }
    } catch (e) {
      const msg = `The sources could not be fetched from the server: ${(e as Error).message}`;
      say.write(`kbs: ${msg}\n`);
      return { state: "failed", failedStep: "sources", errorSummary: msg };
    } finally {
      await say.close();
    }
    const inputBuilds = new Map(job.inputBuilds.map((b) => [b.id, b]));
    const settings: Settings = this.opts.settings;
    const jobs = Math.max(1, Math.floor(os.availableParallelism() / this.opts.slots));
    return runBuild(
      {
        settings,
        deps: {
          projects: { require: () => ({ id: build.project, recipe }) },
          configs: { require: () => ({ id: build.configId, project: build.project, text: job.configText }) },
          gitref: this.mirror.gitref(build.project),
          sandbox: this.opts.sandbox,
        },
        builds: { get: (id: string): BuildRow | undefined => inputBuilds.get(id) },
        artifacts,
        ccache: this.ccache,
        trees: this.trees,
        logs,
        jobs,
        worker: this.name,
      },
      build,
      job.attempt,
      signal,
    );
  }

  /** An input artifact into the job's staging store; returns the sha256 of what arrived. */
  private async download(job: RemoteJob, symbol: string, artifacts: ArtifactStore): Promise<string> {
    const res = await this.api.request("GET", apiPath.workerInput(job.build.id, symbol, job.attempt));
    const tmp = path.join(artifacts.dir, `.download-${crypto.randomBytes(4).toString("hex")}`);
    try {
      const out = fs.createWriteStream(tmp);
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) if (!out.write(chunk)) await new Promise<void>((r) => out.once("drain", () => r()));
      await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())));
      return (await artifacts.putFile(tmp)).sha256;
    } finally {
      fs.rmSync(tmp, { force: true });
    }
  }

  /** Each artifact with its sha256 and size, manifest.json last (the server stores none of them until the result names them). */
  private async upload(job: RemoteJob, refs: ArtifactRef[], artifacts: ArtifactStore, logs: ShippedLogs): Promise<void> {
    const ordered = [...refs.filter((a) => a.name !== "manifest.json"), ...refs.filter((a) => a.name === "manifest.json")];
    const start = Date.now();
    let bytes = 0;
    for (const a of ordered) {
      await this.api.request("PUT", apiPath.workerArtifact(job.build.id, a.sha256, { attempt: job.attempt, size: a.size, name: a.name }), {
        body: () => fs.createReadStream(artifacts.path(a.sha256)) as unknown as BodyInit,
        headers: { "Content-Type": "application/octet-stream", "Content-Length": String(a.size) },
      });
      bytes += a.size;
    }
    const w = logs.writer(job.build.id);
    w.write(`kbs: uploaded ${ordered.length} artifacts (${(bytes / MB).toFixed(1)} MB) to the server in ${Date.now() - start} ms\n`);
    await w.close();
  }

  /** Stop: running builds are stopped and handed back to the queue for another worker. */
  async close(): Promise<void> {
    this.stopping = true;
    clearInterval(this.heartbeat);
    for (const ac of this.running.values()) ac.abort();
    await this.worker?.close();
    await this.ccache.settled();
    this.connection?.disconnect();
  }
}
