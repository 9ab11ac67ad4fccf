import fs from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { systemPython, timeCommand } from "../baselines";
import { repeat, timeMs } from "../stats";
import type { BenchFigure, BenchSuite } from "../types";
import { startServer, type RunningServer } from "../../server/main";
import { run } from "../../server/core/proc";
import { loadSettings } from "../../server/core/settings";
import { addFixtureProject, createBuildFixtureRepo } from "../../test/fixtures/builds";
import type { BuildView } from "../../server/builds/types";

/**
 * Build figures through the real server, queue and bwrap sandboxes, on the build fixture
 * (demo tree; the `multi` branch adds 40 C files so compile time dominates):
 * cache-hit response time; a cold build against bare `make` of the same tree outside
 * the sandbox (same run); a one-symbol-change rebuild with a warm ccache against cold;
 * throughput with 1 and 2 workers.
 */
export async function server(workDir: string, name: string, repoDir: string, workers: number, project = "fx"): Promise<RunningServer> {
  const env = { KBS_DATA_DIR: path.join(workDir, name), PORT: "0", KBS_UPSTREAMS: "0", KBS_BUILTINS: "0", KBS_POOL_SIZE: "0", KBS_BUILD_WORKERS: String(workers), KBS_LOG_LEVEL: "warn" };
  await addFixtureProject(env, project, repoDir);
  return startServer(loadSettings(env), { withNext: false });
}

export async function post(base: string, p: string, body: unknown): Promise<{ status: number; json: { id: string } & Record<string, unknown> }> {
  const res = await fetch(base + p, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  return { status: res.status, json: (await res.json()) as { id: string } };
}

export const config = (blink: number) => `CONFIG_ARCH_HOST=y\nCONFIG_BLINK_PERIOD_MS=${blink}\n`;

/** Save a config and build it; resolves with the finished build. */
export async function build(base: string, rev: string, text: string, project = "fx"): Promise<BuildView> {
  const cfg = await post(base, "/api/configs", { project, rev, text });
  const req = await post(base, "/api/builds", { project, rev, configId: cfg.json.id });
  if (req.status >= 400) throw new Error(`POST /api/builds: ${req.status} ${JSON.stringify(req.json)}`);
  return waitDone(base, req.json.id);
}

/** The finished build: its log followed to the end (which comes when the build ends, as `kbs build` waits), then read. */
export async function waitDone(base: string, id: string): Promise<BuildView> {
  for (;;) {
    await (await fetch(`${base}/api/builds/${id}/log?follow=1`)).arrayBuffer();
    const b = (await (await fetch(`${base}/api/builds/${id}`)).json()) as BuildView;
    if (!["queued", "running"].includes(b.state)) {
      if (b.state !== "succeeded") throw new Error(`bench build ${id} ${b.state}: ${b.errorSummary}`);
      return b;
    }
    await sleep(50);
  }
}

export const suite: BenchSuite = async (ctx) => {
  const runs = ctx.quick ? 2 : 4;
  const repo = createBuildFixtureRepo(path.join(ctx.workDir, "build-fixture"));
  const figures: BenchFigure[] = [];

  // Bare make of the multi branch outside any sandbox (olddefconfig then make -j2, from clean),
  // each sample taken right before a cold sandboxed build so machine load hits both alike.
  const tree = path.join(ctx.workDir, "bare-tree");
  await run("git", ["clone", "-q", "-b", "multi", repo.dir, tree]);
  const bareMake = (ccacheDir?: string) => {
    fs.rmSync(path.join(tree, "out"), { recursive: true, force: true });
    fs.writeFileSync(path.join(tree, ".config"), config(500));
    if (ccacheDir) fs.rmSync(ccacheDir, { recursive: true, force: true });
    const env = ccacheDir ? { ...process.env, CCACHE_DIR: ccacheDir, PATH: `/usr/lib/ccache:${process.env.PATH}` } : process.env;
    return timeCommand(["sh", "-c", `make olddefconfig PYTHON=${systemPython} >/dev/null && make -j2 PYTHON=${systemPython} >/dev/null`], { cwd: tree, env });
  };

  const one = await server(ctx.workDir, "one-worker", repo.dir, 1);
  try {
    const base = one.url;
    const ccache = path.join(one.kbs.settings.dataDir, "ccache");
    ctx.log("builds: cold sandboxed builds (empty ccache) against bare make");
    let blink = 100;
    const bareSamples: number[] = [];
    const bareCcacheSamples: number[] = [];
    const cold = await repeat(runs, async () => {
      bareSamples.push(await bareMake());
      bareCcacheSamples.push(await bareMake(path.join(ctx.workDir, "bare-ccache")));
      fs.rmSync(ccache, { recursive: true, force: true });
      return timeMs(() => build(base, "multi", config(blink++)));
    });
    figures.push({
      name: "builds.cold_build",
      unit: "ms",
      samples: cold,
      baseline: { name: "bare make (olddefconfig + make -j2) outside the sandbox", samples: bareSamples },
      target: "ratio <= 1.10",
      note: "through the API, request to done: olddefconfig for the key, queue, git archive, sandbox, ccache misses, artifacts",
    });

    figures.push({
      name: "builds.cold_build_vs_bare_ccache",
      unit: "ms",
      samples: cold,
      baseline: { name: "bare make through ccache with an empty cache, outside the sandbox", samples: bareCcacheSamples },
      note: "the same cold builds against a baseline that also pays ccache's misses: what the sandbox, queue and request path add",
    });

    ctx.log("builds: one-symbol-change rebuilds with a warm ccache");
    await build(base, "multi", config(blink++)); // fill the cache
    const warm = await repeat(runs, () => timeMs(() => build(base, "multi", config(blink++))));
    figures.push({
      name: "builds.rebuild_ccache",
      unit: "ms",
      samples: warm,
      baseline: { name: "cold sandboxed build", samples: cold },
      target: "ratio <= 0.40",
      note: "CONFIG_BLINK_PERIOD_MS changed each time: main.c recompiles, the 40 other files come from ccache. The cache rule: a cache serves only this project and this client, is read-only inside the sandbox, and kbs merges each build's new objects into it; another client's or project's first build is a cold build",
    });

    ctx.log("builds: cache-hit response time");
    const cfg = await post(base, "/api/configs", { project: "fx", rev: "multi", text: config(100) });
    const hits = await repeat(ctx.quick ? 20 : 50, async () => {
      const t0 = performance.now();
      const r = await post(base, "/api/builds", { project: "fx", rev: "multi", configId: cfg.json.id });
      if (r.status !== 200 || r.json.cached !== true) throw new Error(`expected a cache hit, got ${r.status} ${JSON.stringify(r.json)}`);
      return performance.now() - t0;
    }, 3);
    figures.push({ name: "builds.cache_hit", unit: "ms", samples: hits, target: "p50 <= 100 ms", note: "POST /api/builds of a finished build, through HTTP" });
  } finally {
    await one.close();
  }

  const jobs = ctx.quick ? 4 : 8;
  for (const workers of [1, 2]) {
    ctx.log(`builds: throughput with ${workers} worker(s), ${jobs} demo builds`);
    const s = await server(ctx.workDir, `throughput-${workers}`, repo.dir, workers);
    try {
      const ms = await timeMs(() => Promise.all(Array.from({ length: jobs }, (_, i) => build(s.url, "v0.3.0", config(1000 + i)))));
      figures.push({
        name: `builds.throughput.${workers}_worker${workers > 1 ? "s" : ""}`,
        unit: "jobs/min",
        samples: [jobs / (ms / 60_000)],
        note: `${jobs} distinct demo builds queued at once, first request to last done; ${workers === 2 ? "-j1 each" : "-j2"} on this 2-core machine`,
      });
    } finally {
      await s.close();
    }
  }
  return figures;
};


