import fs from "node:fs";
import os from "node:os";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { lsTreeIndex } from "../baselines";
import { appendHistory, generateHistoryRepo } from "../../test/fixtures/fake-firmware";
import { msSince, repeat, timeMs } from "../stats";
import type { BenchFigure, BenchSuite } from "../types";
import { openDb } from "../../server/core/db";
import { gitText } from "../../server/gitref/git";
import { registerProjectRoutes } from "../../server/http/routes/projects";
import { Router } from "../../server/http/router";
import { createProjectParts } from "../../server/projects/parts";
import { indexProject } from "../../server/revdb/indexer";

const recipeId = "kconfiglib";

/**
 * revdb figures on a generated history (20,000 commits and 300 kconfig changes; with
 * `--full` the size of Buildroot's master, 80,000 commits and 1,200 changes; an annotated tag every 200): full index, 1-commit incremental sync, the
 * bundle store against the distinct kconfig trees, and GET /revisions latency through
 * the real router over HTTP. Baseline: one `git ls-tree -r` per commit.
 */
export const suite: BenchSuite = async (ctx) => {
  const commits = ctx.quick ? 5_000 : ctx.full ? 80_000 : 20_000;
  const changes = ctx.quick ? 75 : ctx.full ? 1_200 : 300;
  ctx.log(`generating a ${commits}-commit history with ${changes} kconfig changes (git fast-import)`);
  const t0 = performance.now();
  const repo = generateHistoryRepo(path.join(ctx.workDir, "upstream.git"), { commits, kconfigChanges: changes, tagEvery: 200 });
  const genMs = msSince(t0);

  const dataDir = path.join(ctx.workDir, "data");
  const db = openDb(dataDir);
  const parts = createProjectParts(dataDir, db);
  const figures: BenchFigure[] = [];
  try {
    parts.projects.add({ id: "gen", recipe: recipeId, upstream: { kind: "git", url: repo.dir } });
    const recipe = parts.projects.require("gen").recipe;
    ctx.log("first sync (fetch, index, bundles)");
    const firstSyncMs = await timeMs(() => parts.sync.sync("gen"));

    ctx.log("full index, repeated on an emptied index");
    const clear = () => {
      for (const t of ["revdb_commits", "revdb_refs", "revdb_state"]) db.prepare(`DELETE FROM ${t} WHERE project = 'gen'`).run();
    };
    const fullMs = await repeat(ctx.quick ? 2 : 3, async () => {
      clear();
      return timeMs(() => indexProject({ db, gitref: parts.gitref, projectId: "gen", recipe }));
    });
    const indexed = parts.revdb.count("gen");

    ctx.log("ls-tree per commit baseline (a sample, extrapolated)");
    const sample = ctx.quick ? 200 : 500;
    const base = await lsTreeIndex({ repoDir: repo.dir, kconfigPaths: recipe.kconfigPaths, maxCommits: sample });

    figures.push({
      name: "revdb.index.full",
      unit: "s",
      samples: fullMs.map((ms) => ms / 1000),
      target: commits === 80_000 ? "<= 60 s" : commits === 20_000 ? "<= 10 s" : undefined,
      baseline: { name: `git ls-tree per commit, ${base.commits} commits extrapolated to ${indexed}`, samples: [((base.ms / base.commits) * indexed) / 1000] },
      note: `${indexed} commits, ${parts.revdb.hashes("gen").length} distinct kconfig trees; index only (the mirror already fetched). First sync incl. fetch and bundles: ${(firstSyncMs / 1000).toFixed(1)} s; history generated in ${(genMs / 1000).toFixed(1)} s`,
    });
    figures.push({
      name: "revdb.index.throughput",
      unit: "commits/s",
      samples: fullMs.map((ms) => Math.round(indexed / (ms / 1000))),
      baseline: { name: `git ls-tree per commit (${base.commits}-commit sample)`, samples: [Math.round(base.commitsPerSec)] },
    });

    ctx.log("1-commit incremental index (after the fetch)");
    const indexMs = await repeat(ctx.quick ? 4 : 8, async (i) => {
      appendHistory(repo.dir, { commits: 1, kconfigChanges: i % 2 });
      await parts.gitref.fetch("gen", repo.dir);
      return timeMs(async () => {
        await indexProject({ db, gitref: parts.gitref, projectId: "gen", recipe });
        for (const h of parts.revdb.hashes("gen").filter((h) => !parts.bundles.has(h))) await parts.bundles.ensure(h);
      });
    });
    figures.push({
      name: "revdb.index.incremental-1",
      unit: "ms",
      samples: indexMs,
      target: "p95 <= 300 ms",
      note: `index of one new commit on top of ${indexed} (every other one changes Kconfig, then its bundle is written); load average ${os.loadavg()[0]!.toFixed(1)}`,
    });
    ctx.log("1-commit incremental syncs");
    const syncMs = await repeat(ctx.quick ? 4 : 8, async (i) => {
      appendHistory(repo.dir, { commits: 1, kconfigChanges: i % 2 });
      return timeMs(() => parts.sync.sync("gen"));
    });
    figures.push({
      name: "revdb.sync.incremental-1",
      unit: "ms",
      samples: syncMs,
      note: "the whole kbs sync of one new commit: git fetch + index + bundle (mostly git process start-ups)",
    });

    ctx.log("bundle store size vs the distinct kconfig trees");
    const hashes = parts.revdb.hashes("gen");
    let storeBytes = 0;
    for (const h of hashes) storeBytes += fs.statSync(await parts.bundles.ensure(h)).size;
    const blobs = new Set<string>();
    for (const h of hashes) for (const e of parts.revdb.treeEntries(h) ?? []) if (!e.extra) blobs.add(e.blob);
    const sizes = new Map<string, number>();
    for (const line of (await gitText(parts.gitref.dir, ["cat-file", "--batch-check=%(objectname) %(objectsize)"], { input: [...blobs].join("\n") + "\n" })).split("\n")) {
      const [oid, size] = line.split(" ");
      if (oid && size) sizes.set(oid, Number(size));
    }
    const treeBytes = (h: string) => (parts.revdb.treeEntries(h) ?? []).reduce((n, e) => n + (sizes.get(e.blob) ?? 0), 0);
    const distinctBytes = hashes.reduce((n, h) => n + treeBytes(h), 0);
    const perCommitBytes = (db.prepare("SELECT kconfig_hash AS h, COUNT(*) AS n FROM revdb_commits WHERE project = 'gen' GROUP BY kconfig_hash").all() as Array<{ h: string; n: number }>).reduce(
      (n, r) => n + r.n * treeBytes(r.h),
      0,
    );
    figures.push({
      name: "revdb.bundles.size-ratio",
      unit: "ratio",
      samples: [Math.round((storeBytes / distinctBytes) * 1000) / 1000],
      note: `${hashes.length} bundles, ${(storeBytes / 1024).toFixed(0)} KB on disk vs ${(distinctBytes / 1024).toFixed(0)} KB of distinct kconfig files (tar headers are the difference); one tree per commit would be ${(perCommitBytes / 1024 / 1024).toFixed(1)} MB`,
    });

    ctx.log("GET /api/projects/:id/revisions over HTTP");
    const router = new Router();
    registerProjectRoutes(router, parts);
    // Server-side time (request in to response end) beside the client-seen time, and the CPU it used.
    const serverMs: number[] = [];
    const server = http.createServer((req, res) => {
      const t0 = performance.now();
      res.once("finish", () => serverMs.push(msSince(t0)));
      void router.handle(req, res);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const base_ = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/projects/gen/revisions`;
    const head = parts.revdb.resolve("gen", "master");
    const queries = ["", "?q=v1.4", `?q=${head.sha.slice(0, 8)}`, `?q=${encodeURIComponent(head.describe.slice(0, 8))}`, "?limit=1000"];
    try {
      for (const q of queries) await fetch(base_ + q).then((r) => r.text());
      serverMs.length = 0;
      const n = ctx.quick ? 100 : 300;
      const cpu0 = process.cpuUsage();
      const lat = await repeat(n, async (i) => timeMs(() => fetch(base_ + queries[i % queries.length]).then((r) => r.text())));
      const cpu = process.cpuUsage(cpu0);
      const load = `load average ${os.loadavg()[0]!.toFixed(1)} on ${os.availableParallelism()} cores during the run`;
      figures.push({
        name: "revdb.revisions-query",
        unit: "ms",
        samples: lat,
        target: "p95 <= 20 ms",
        note: `${indexed}-commit project, client-seen; mix of the default list (100), search by tag, sha prefix, describe prefix, and limit=1000; ${load}; CPU (client and server) ${((cpu.user + cpu.system) / 1000 / n).toFixed(1)} ms per request`,
      });
      figures.push({ name: "revdb.revisions-query.server", unit: "ms", samples: [...serverMs], target: "p95 <= 20 ms", note: `the same requests, request in to response end in the server; ${load}` });
    } finally {
      server.close();
    }
  } finally {
    db.close();
  }
  return figures;
};
