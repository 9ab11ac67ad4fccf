import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { kbsBin } from "../../test/helpers/server";
import { repeat, timeMs } from "../stats";
import type { BenchFigure, BenchSuite } from "../types";
import { startServer, type RunningServer } from "../../server/main";
import { loadSettings } from "../../server/core/settings";
import { WorkerTokens } from "../../server/workers/tokens";
import { addFixtureProject, createBuildFixtureRepo } from "../../test/fixtures/builds";
import type { BuildView } from "../../server/builds/types";

/**
 * Remote workers (`kbs worker --server URL --token T`, own data dirs, on this machine):
 * queue throughput with 1 and 2 remote workers beside the embedded queue with one worker,
 * and the cost of a remote build against a local one of the same firmware-sized tree (the
 * fixture's `multi` branch, 40 more C files, each build with a cold compiler cache): what
 * fetching the sources over git and uploading the results adds.
 */
const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
    srv.on("error", reject);
  });

async function startRedis(dir: string): Promise<{ url: string; stop(): void }> {
  const port = await freePort();
  const child = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir], { stdio: "ignore" });
  for (let i = 0; ; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, "127.0.0.1", () => {
        s.end();
        resolve(true);
      });
      s.on("error", () => resolve(false));
    });
    if (ok) break;
    if (i > 100) throw new Error("redis-server did not start: is Debian's redis-server installed?");
    await sleep(100);
  }
  return { url: `redis://127.0.0.1:${port}`, stop: () => child.kill("SIGKILL") };
}

function startRemoteWorker(dataDir: string, server: string, token: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [kbsBin, "worker", "--server", server, "--workers", "1"], {
    env: { ...process.env, KBS_DATA_DIR: dataDir, KBS_WORKER_TOKEN: token, KBS_LOG_LEVEL: "warn", KBS_POOL_SIZE: "0" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  return new Promise((resolve, reject) => {
    child.stdout!.on("data", (d) => {
      out += d;
      if (out.includes("kbs worker:")) resolve(child);
    });
    child.stderr!.on("data", (d) => (out += d));
    child.once("exit", (code) => reject(new Error(`kbs worker exited with ${code}: ${out}`)));
  });
}

async function post(base: string, p: string, body: unknown, client: string): Promise<{ status: number; json: { id: string } }> {
  const res = await fetch(base + p, { method: "POST", headers: { "Content-Type": "application/json", "X-Forwarded-For": client }, body: JSON.stringify(body) });
  return { status: res.status, json: (await res.json()) as { id: string } };
}

/** One build through the API as client `client` (its own compiler-cache scope: a cold cache for a new client). */
async function build(base: string, rev: string, text: string, client: string): Promise<BuildView> {
  const cfg = await post(base, "/api/configs", { project: "fx", rev, text }, client);
  const req = await post(base, "/api/builds", { project: "fx", rev, configId: cfg.json.id }, client);
  if (req.status >= 400) throw new Error(`POST /api/builds: ${req.status} ${JSON.stringify(req.json)}`);
  for (;;) {
    const b = (await (await fetch(`${base}/api/builds/${req.json.id}`)).json()) as BuildView;
    if (!["queued", "running"].includes(b.state)) {
      if (b.state !== "succeeded") throw new Error(`bench build ${b.id} ${b.state}: ${b.errorSummary}`);
      return b;
    }
    await sleep(50);
  }
}

const config = (n: number) => `CONFIG_ARCH_HOST=y\nCONFIG_BLINK_PERIOD_MS=${n}\n`;

export const suite: BenchSuite = async (ctx) => {
  const figures: BenchFigure[] = [];
  const repo = createBuildFixtureRepo(path.join(ctx.workDir, "remote-fixture"));
  const redisDir = path.join(ctx.workDir, "redis");
  fs.mkdirSync(redisDir, { recursive: true });
  const redis = await startRedis(redisDir);
  const servers: RunningServer[] = [];
  const children: ChildProcess[] = [];
  let db = 0;
  const serve = async (name: string, opts: { remote: boolean }) => {
    const env = {
      KBS_DATA_DIR: path.join(ctx.workDir, name),
      PORT: "0",
      KBS_UPSTREAMS: "0",
      KBS_BUILTINS: "0",
      KBS_POOL_SIZE: "0",
      KBS_LOG_LEVEL: "warn",
      KBS_TRUSTED_PROXIES: "127.0.0.1/32",
      KBS_BUILD_CLIENT_MAX: "1000",
      ...(opts.remote ? { KBS_REDIS_URL: `${redis.url}/${db++}`, KBS_BUILD_WORKERS: "0" } : { KBS_BUILD_WORKERS: "1" }),
    };
    await addFixtureProject(env, "fx", repo.dir);
    const s = await startServer(loadSettings(env), { withNext: false });
    servers.push(s);
    return s;
  };
  const workersFor = async (s: RunningServer, name: string, n: number) => {
    const token = new WorkerTokens(s.kbs.db).create(name).token;
    for (let i = 0; i < n; i++) children.push(await startRemoteWorker(path.join(ctx.workDir, `${name}-w${i}`), s.url, token));
  };
  const stopAll = async () => {
    for (const c of children.splice(0)) {
      c.kill("SIGTERM");
      await new Promise((r) => c.once("exit", r));
    }
    for (const s of servers.splice(0)) await s.close();
  };
  let client = 0;
  const nextClient = () => `198.51.100.${(client++ % 250) + 1}`;
  try {
    const jobs = ctx.quick ? 4 : 8;
    const throughput = async (s: RunningServer, offset: number) => {
      const ms = await timeMs(() => Promise.all(Array.from({ length: jobs }, (_, i) => build(s.url, "v0.3.0", config(2000 + offset + i), nextClient()))));
      return jobs / (ms / 60_000);
    };
    ctx.log(`remote builds: throughput, ${jobs} demo builds, embedded queue with 1 worker`);
    const embedded = await throughput(await serve("remote-embedded", { remote: false }), 0);
    await stopAll();
    for (const n of [1, 2]) {
      ctx.log(`remote builds: throughput with ${n} remote worker(s)`);
      const s = await serve(`remote-tp-${n}`, { remote: true });
      await workersFor(s, `tp${n}`, n);
      await build(s.url, "v0.3.0", config(1), nextClient()); // each worker's first fetch is not a throughput figure
      const tp = await throughput(s, n * 100);
      figures.push({
        name: `builds.remote.throughput.${n}_worker${n > 1 ? "s" : ""}`,
        unit: "jobs/min",
        samples: [tp],
        baseline: { name: "embedded queue, 1 worker in the server", samples: [embedded] },
        note: `${jobs} distinct demo builds queued at once, first request to last done; remote workers on this same machine (own data dirs, sources over git smart HTTP, uploads to the server), each taking -j${n === 1 ? 2 : "2 on a shared 2 cores"}`,
      });
      await stopAll();
    }

    // Overhead: the same firmware-sized builds (multi branch, cold compiler cache), local and remote, alternated.
    const runs = ctx.quick ? 2 : 4;
    const local = await serve("remote-overhead-local", { remote: false });
    const remote = await serve("remote-overhead-remote", { remote: true });
    await workersFor(remote, "overhead", 1);
    await build(remote.url, "multi", config(1), nextClient()); // the worker's mirror holds the project: later builds fetch nothing new
    let blink = 3000;
    const localSamples: number[] = [];
    const remoteSamples = await repeat(runs, async () => {
      localSamples.push(await timeMs(() => build(local.url, "multi", config(blink++), nextClient())));
      return timeMs(() => build(remote.url, "multi", config(blink++), nextClient()));
    });
    figures.push({
      name: "builds.remote.overhead",
      unit: "ms",
      samples: remoteSamples,
      baseline: { name: "the same build on the server's own worker (embedded queue)", samples: localSamples },
      target: "ratio <= 1.10",
      note: "fixture branch multi (40 more C files), cold compiler cache each time (a new client each build); remote adds the claim, the sources from the worker's mirror (fetched already), the log shipped live, the artifacts uploaded and verified",
    });
  } finally {
    await stopAll();
    redis.stop();
  }
  return figures;
};
