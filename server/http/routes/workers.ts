import fs from "node:fs";
import type { IncomingMessage } from "node:http";
import { z } from "zod";
import type { RemoteJobs } from "../../builds/remote/jobs";
import type { BuildService } from "../../builds/service";
import type { Settings } from "../../core/settings";
import type { WorkerTokens } from "../../workers/tokens";
import type { WorkerList } from "../../../contracts/api";
import { buildStates } from "../../../contracts/build-states";
import { badRequest } from "../errors";
import { readBody, readJson, readQuery, type Router } from "../router";

const Name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,127}$/, "a worker name is letters, digits and ._:@/- (at most 128)");
const Attempt = z.object({ attempt: z.coerce.number().int().min(1) });
const Hello = z.object({
  slots: z.number().int().min(0).max(1024),
  recipes: z.array(z.string().max(100)).max(1000),
  refused: z.record(z.string(), z.string().max(4000)).default({}),
  running: z.array(z.string().max(64)).max(1024).default([]),
});
const Artifact = z.object({ name: z.string().min(1).max(255), size: z.number().int().min(0), sha256: z.string().regex(/^[0-9a-f]{64}$/) });
const FinishBody = z.object({
  state: z.enum(buildStates).exclude(["queued", "running"]),
  failedStep: z.string().max(200).nullish(),
  errorSummary: z.string().max(64 * 1024).nullish(),
  artifacts: z.array(Artifact).max(10_000).default([]),
});

/**
 * Remote build workers (`kbs worker --server URL --token T`): the job API under
 * /api/worker/ (the sources are under /git/, server/http/routes/git.ts), each request with
 * a worker token; GET /api/workers lists the workers seen.
 */
export function registerWorkerRoutes(router: Router, kbs: { settings: Pick<Settings, "redisUrl">; builds: BuildService; workerTokens: WorkerTokens; remoteJobs: RemoteJobs }): void {
  const { workerTokens: tokens, remoteJobs: jobs } = kbs;

  const caller = (req: IncomingMessage) => {
    const token = tokens.authenticate(req.headers.authorization);
    const name = Name.safeParse(req.headers["x-kbs-worker"]);
    if (!name.success) throw badRequest("bad_worker_name", `X-Kbs-Worker: ${name.error.issues[0]!.message}`);
    return { token, worker: name.data };
  };

  router.get("/api/workers", (): WorkerList => ({ workers: jobs.workers.list() }));

  router.post("/api/worker/hello", async ({ req }) => {
    const { token, worker } = caller(req);
    const body = await readJson(req, Hello, 256 * 1024);
    jobs.workers.hello(worker, token.name, body);
    return { engine: kbs.builds.queue.engine, redisUrl: kbs.settings.redisUrl ?? null };
  });

  router.post("/api/worker/jobs/:id/claim", ({ req, params }) => {
    const { token, worker } = caller(req);
    return jobs.claim(token, worker, params.id!) ?? { gone: true };
  });

  router.post("/api/worker/jobs/:id/refuse", async ({ req, params, url }) => {
    const { token, worker } = caller(req);
    const { attempt } = readQuery(url, Attempt);
    const { reason } = await readJson(req, z.object({ reason: z.string().min(1).max(8000) }), 16 * 1024);
    jobs.refuse(token, worker, params.id!, attempt, reason);
    return { requeued: true };
  });

  router.get("/api/worker/jobs/:id/inputs/:symbol", ({ req, res, params, url }) => {
    const { token } = caller(req);
    const { attempt } = readQuery(url, Attempt);
    const a = jobs.input(token, params.id!, attempt, params.symbol!);
    res.writeHead(200, { "Content-Type": "application/octet-stream", "Content-Length": String(a.size), "X-Kbs-Sha256": a.sha256 });
    fs.createReadStream(a.file).pipe(res);
  });

  router.post("/api/worker/jobs/:id/log", async ({ req, params, url }) => {
    const { token, worker } = caller(req);
    const { attempt } = readQuery(url, Attempt);
    const chunk = await readBody(req, 4 * 1024 * 1024);
    return jobs.appendLog(token, worker, params.id!, attempt, chunk);
  });

  router.add("PUT", "/api/worker/jobs/:id/artifacts/:hash", async ({ req, params, url }) => {
    const { token } = caller(req);
    const q = readQuery(url, Attempt.extend({ size: z.coerce.number().int().min(0), name: z.string().min(1).max(255) }));
    const sha = z.string().regex(/^[0-9a-f]{64}$/, "the path names the artifact's sha256 (64 hex digits)").safeParse(params.hash);
    if (!sha.success) throw badRequest("bad_sha256", sha.error.issues[0]!.message);
    await jobs.upload(token, params.id!, q.attempt, q.name, sha.data, q.size, req);
    return { stored: false, staged: true };
  });

  router.post("/api/worker/jobs/:id/finish", async ({ req, params, url }) => {
    const { token, worker } = caller(req);
    const { attempt } = readQuery(url, Attempt);
    const body = await readJson(req, FinishBody, 4 * 1024 * 1024);
    return jobs.finish(token, worker, params.id!, attempt, body);
  });
}
