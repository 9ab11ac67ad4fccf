import crypto from "node:crypto";
import fs from "node:fs";
import type { IncomingMessage } from "node:http";
import path from "node:path";
import { log } from "../../core/log";
import type { Recipe } from "../../core/recipe";
import type { Settings } from "../../core/settings";
import type { WorkerToken } from "../../workers/tokens";
import type { WorkerRegistry } from "../../workers/registry";
import { buildLimits } from "../builder";
import type { BuildService } from "../service";
import type { Finish } from "../store";
import type { ArtifactRef, BuildRow, Manifest } from "../types";
import { KbsError, conflict, invalid, notFound, unprocessable } from "../../core/errors";

const MB = 1024 * 1024;

/** What a remote worker gets when it claims a build: everything it needs besides the sources (fetched over /git). */
export interface RemoteJob {
  attempt: number;
  build: BuildRow;
  recipe: Recipe;
  configText: string;
  /** The earlier builds the inputs come from, as the input check needs them (recipe `build.inputs`). */
  inputBuilds: BuildRow[];
}

/** A result a worker reports at the end of its attempt (the artifacts uploaded before, by sha256). */
export type RemoteFinish = Finish;

/**
 * The server's side of remote workers (server/http/routes/workers.ts): a worker claims a
 * build it got from the Redis queue and becomes its holder (the build's `worker` column
 * ends in `#<token id>`, with the attempt number); only the holder of the current attempt
 * reads its inputs and writes its log, uploads and result. Uploads go to a directory of
 * their attempt and are stored (content-addressed) only when the attempt finishes with
 * every declared artifact there, so a half-finished upload, or one of an attempt another
 * worker took over, is never stored. The server alone writes its data dir and the records.
 */
export class RemoteJobs {
  private readonly uploads: string;

  constructor(
    private settings: Settings,
    private builds: BuildService,
    private deps: { projects: { require(id: string): { recipe: Recipe } }; configs: { require(id: string): { text: string } } },
    readonly workers: WorkerRegistry,
  ) {
    this.uploads = path.join(settings.dataDir, "uploads");
    fs.mkdirSync(this.uploads, { recursive: true });
  }

  /** Uploads a killed server was receiving: their workers send them again (`kbs serve` only: a CLI verb beside a running server must leave its uploads alone). */
  removeStaleUploads(): void {
    for (const f of fs.readdirSync(this.uploads, { recursive: true }).map(String)) if (f.endsWith(".part")) fs.rmSync(path.join(this.uploads, f), { force: true });
  }

  private uploadDir(id: string, attempt: number): string {
    return path.join(this.uploads, `${id}-${attempt}`);
  }

  /** The build, when `token`'s worker holds its attempt `attempt`; a 409 that says why not otherwise. */
  held(token: WorkerToken, id: string, attempt: number): BuildRow {
    const b = this.builds.get(id);
    if (!b) throw notFound("unknown_build", `There is no build ${id}.`);
    if (!b.worker?.endsWith(`#${token.id}`) || b.attempt !== attempt || b.state !== "running") {
      throw conflict("not_held", `Attempt ${attempt} of build ${id} is not held by a worker of token '${token.name}' (the build is ${b.state}, attempt ${b.attempt}); its results are not taken.`);
    }
    return b;
  }

  /** Take a build from the queue: the next attempt, held by this worker; undefined when the build is no longer wanted. */
  claim(token: WorkerToken, worker: string, id: string): RemoteJob | undefined {
    const attempt = this.builds.store.claim(id, `${worker}#${token.id}`);
    if (attempt === undefined) return undefined;
    // The attempts before this one were given up (their worker died or refused): their uploads go.
    for (const d of fs.readdirSync(this.uploads)) if (d.startsWith(`${id}-`)) fs.rmSync(path.join(this.uploads, d), { recursive: true, force: true });
    this.workers.took(worker, token.name, id);
    const build = this.builds.get(id)!;
    const inputBuilds = build.inputs.flatMap((r) => {
      const b = this.builds.get(r.buildId);
      return b ? [{ ...b, client: "" }] : [];
    });
    // The worker needs the requester only as its compiler-cache scope: an opaque id, not the address.
    const client = crypto.createHash("sha256").update(`kbs-client\0${build.client}`).digest("hex").slice(0, 24);
    return { attempt, build: { ...build, client }, recipe: this.deps.projects.require(build.project).recipe, configText: this.deps.configs.require(build.configId).text, inputBuilds };
  }

  /** The worker cannot run this build here: it goes back to the queue for another worker, the log saying why. */
  refuse(token: WorkerToken, worker: string, id: string, attempt: number, reason: string): void {
    const b = this.held(token, id, attempt);
    fs.appendFileSync(this.builds.logs.path(id), `kbs: worker ${worker} cannot run this build: ${reason}; back to the queue for another worker\n`);
    this.builds.store.requeue(id, attempt);
    this.workers.released(worker, token.name, id);
    this.workers.refusedImage(worker, token.name, this.deps.projects.require(b.project).recipe.build.image, reason);
  }

  /** A stored input artifact of a held build (recipe `build.inputs`), by its symbol. */
  input(token: WorkerToken, id: string, attempt: number, symbol: string): { file: string; size: number; sha256: string } {
    const b = this.held(token, id, attempt);
    const ref = b.inputs.find((r) => r.symbol === symbol);
    if (!ref?.sha256 || !this.builds.artifacts.has(ref.sha256)) throw notFound("unknown_input", `Build ${id} has no stored input ${symbol}.`);
    return { file: this.builds.artifacts.path(ref.sha256), size: fs.statSync(this.builds.artifacts.path(ref.sha256)).size, sha256: ref.sha256 };
  }

  /** Append a chunk of the attempt's log (the build page follows the file as for a local worker); false once the build was cancelled. */
  appendLog(token: WorkerToken, worker: string, id: string, attempt: number, chunk: Buffer): { running: boolean } {
    const b = this.builds.get(id);
    if (b?.state === "cancelled" && b.attempt === attempt) return { running: false };
    this.held(token, id, attempt);
    this.workers.touch(worker, token.name);
    const file = this.builds.logs.path(id);
    const size = fs.statSync(file, { throwIfNoEntry: false })?.size ?? 0;
    if (chunk.length && size < 64 * MB) fs.appendFileSync(file, size + chunk.length > 64 * MB ? `\nkbs: the log passed 64 MB; the rest of the build's output is not kept\n` : chunk);
    return { running: true };
  }

  /**
   * One artifact of a held attempt, streamed to its attempt's upload dir while hashed. A body
   * whose size or sha256 is not the declared one is refused and fails the attempt, saying so.
   */
  async upload(token: WorkerToken, id: string, attempt: number, name: string, sha256: string, size: number, req: IncomingMessage): Promise<void> {
    const b = this.held(token, id, attempt);
    const limit = buildLimits(this.settings, this.deps.projects.require(b.project).recipe).diskMB * MB;
    if (size > limit) throw new KbsError("too_large", "too_large", `Artifact ${name} is ${size} bytes, over the build's disk limit of ${limit} bytes.`);
    const dir = this.uploadDir(id, attempt);
    fs.mkdirSync(dir, { recursive: true });
    const dest = path.join(dir, sha256);
    const part = `${dest}.${crypto.randomBytes(4).toString("hex")}.part`;
    const hash = crypto.createHash("sha256");
    let got = 0;
    const out = fs.createWriteStream(part, { flags: "wx" });
    try {
      await new Promise<void>((resolve, reject) => {
        req.on("data", (c: Buffer) => {
          got += c.length;
          if (got > size) return reject(new Error("more bytes than declared"));
          hash.update(c);
          if (!out.write(c)) {
            req.pause();
            out.once("drain", () => req.resume());
          }
        });
        req.on("end", resolve);
        req.on("aborted", () => reject(new Error("the upload was cut off")));
        req.on("error", reject);
        out.on("error", reject);
      });
      await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())));
      const actual = hash.digest("hex");
      if (got !== size || actual !== sha256) {
        const msg = `The worker's upload of artifact ${name} was refused: it declared ${size} bytes with sha256 ${sha256}, the server received ${got} bytes with sha256 ${actual}. Nothing of this attempt was stored.`;
        this.failAttempt(id, attempt, msg);
        throw unprocessable("sha256_mismatch", msg);
      }
      fs.renameSync(part, dest);
    } catch (e) {
      out.destroy();
      if (e instanceof KbsError) throw e;
      throw invalid("upload_incomplete", `The upload of artifact ${name} was not complete (${(e as Error).message}); nothing was stored. Upload it again.`);
    } finally {
      fs.rmSync(part, { force: true });
    }
  }

  private failAttempt(id: string, attempt: number, msg: string): void {
    fs.appendFileSync(this.builds.logs.path(id), `kbs: ${msg}\n`);
    this.builds.finishAttempt(id, attempt, { state: "failed", failedStep: "upload", errorSummary: msg });
    fs.rmSync(this.uploadDir(id, attempt), { recursive: true, force: true });
  }

  /**
   * The end of a held attempt. A success needs every artifact it names uploaded by this
   * attempt, with manifest.json naming this build and commit; then the uploads are stored
   * and the build record written, once.
   */
  finish(token: WorkerToken, worker: string, id: string, attempt: number, f: RemoteFinish): { recorded: boolean } {
    const b = this.held(token, id, attempt);
    const dir = this.uploadDir(id, attempt);
    try {
      if (f.state === "succeeded") {
        const artifacts: ArtifactRef[] = f.artifacts ?? [];
        const missing = artifacts.filter((a) => fs.statSync(path.join(dir, a.sha256), { throwIfNoEntry: false })?.size !== a.size);
        if (missing.length) throw unprocessable("artifacts_missing", `The worker reported success but these artifacts were not uploaded for attempt ${attempt}: ${missing.map((a) => a.name).join(", ")}. Upload them, then finish again.`);
        const manifest = artifacts.find((a) => a.name === "manifest.json");
        let m: Partial<Manifest> | undefined;
        try {
          m = manifest && (JSON.parse(fs.readFileSync(path.join(dir, manifest.sha256), "utf8")) as Partial<Manifest>);
        } catch {
          /* said below */
        }
        if (!m || m.build !== id || m.commit !== b.commit) {
          const msg = `The worker's manifest.json does not describe build ${id} at ${b.commit}; nothing of this attempt was stored.`;
          this.failAttempt(id, attempt, msg);
          throw unprocessable("bad_manifest", msg);
        }
        for (const a of artifacts) if (!this.builds.artifacts.has(a.sha256)) fs.renameSync(path.join(dir, a.sha256), this.builds.artifacts.path(a.sha256));
      }
      const recorded = this.builds.finishAttempt(id, attempt, { state: f.state, failedStep: f.failedStep ?? null, errorSummary: f.errorSummary ?? null, artifacts: f.state === "succeeded" ? f.artifacts : [] });
      this.workers.released(worker, token.name, id);
      return { recorded };
    } finally {
      if (f.state !== "succeeded" || this.builds.get(id)?.state !== "running") fs.rmSync(dir, { recursive: true, force: true });
      log.debug({ build: id, attempt, worker }, "remote attempt finished");
    }
  }
}
