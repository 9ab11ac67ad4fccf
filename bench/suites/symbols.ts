import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { fixtureGit, generateHistoryRepo } from "../../test/fixtures/fake-firmware";
import { msSince, repeat, timeMs } from "../stats";
import type { BenchFigure, BenchSuite } from "../types";
import { createApiRouter } from "../../server/http/api";
import { createKbs, type Kbs } from "../../server/kbs";
import { loadSettings } from "../../server/core/settings";
import { createFakeLinuxRepo } from "../../test/fixtures/fake-linux";
import { klipperSizedTree } from "../../test/fixtures/symbols";

const load = () => `load average ${os.loadavg()[0]!.toFixed(1)} on ${os.availableParallelism()} cores`;

async function openKbs(dataDir: string): Promise<Kbs> {
  return createKbs(loadSettings({ KBS_DATA_DIR: dataDir, PORT: "0", KBS_UPSTREAMS: "0", KBS_BUILTINS: "0", KBS_POOL_SIZE: "0", KBS_LOG_LEVEL: "warn" }));
}

/** Forget a tree's stored index (file and rows) and what the service holds in memory, so the next call builds it. */
function dropIndex(kbs: Kbs, hash: string): void {
  fs.rmSync(path.join(kbs.settings.dataDir, "symbols", hash), { recursive: true, force: true });
  kbs.db.prepare("DELETE FROM symbol_indexes WHERE hash = ?").run(hash);
  kbs.db.prepare("DELETE FROM symbol_defs WHERE hash = ?").run(hash);
  (kbs.symbols as unknown as { loaded: Map<string, unknown> }).loaded.clear();
}

/** Index build time of a project's head tree, beside one sandboxed Kconfiglib parse of the same tree (olddefconfig). */
async function indexFigure(kbs: Kbs, project: string, name: string, runs: number, note: string): Promise<BenchFigure> {
  const rev = kbs.revdb.resolve(project, "HEAD");
  await kbs.symbols.index(project, rev.kconfigHash); // the tree's own tools (mconf, pyc) are built once, outside the samples
  const samples: number[] = [];
  const baseline: number[] = [];
  let symbols = 0;
  for (let i = 0; i < runs; i++) {
    baseline.push(await timeMs(() => kbs.kconfig.olddefconfig(project, rev, "")));
    dropIndex(kbs, rev.kconfigHash);
    const t0 = performance.now();
    symbols = (await kbs.symbols.index(project, rev.kconfigHash)).byName.size;
    samples.push(msSince(t0));
  }
  return {
    name,
    unit: "ms",
    samples,
    baseline: { name: "olddefconfig of the same tree in a one-shot sandbox (one Kconfiglib parse)", samples: baseline },
    note: `${symbols} symbols; ${note}; ${load()}`,
  };
}

function writeTree(dir: string, files: Record<string, string>): void {
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), text);
  }
  const date = "1700000000 +0000";
  fixtureGit(dir, ["init", "-q", "-b", "master"], { date });
  fixtureGit(dir, ["add", "-A"], { date });
  fixtureGit(dir, ["commit", "-q", "-m", "tree"], { date });
}

/**
 * Symbol explorer figures: index time (sandboxed Kconfiglib) for the fake Linux tree and
 * a Klipper-sized tree; search and lookup latency through the real router over HTTP;
 * history of one symbol across a 300-tree history, cold (a fresh process's first
 * request) and cached, after the trees were indexed (that backfill is a figure too).
 */
export const suite: BenchSuite = async (ctx) => {
  const runs = ctx.quick ? 3 : 5;
  const dataDir = path.join(ctx.workDir, "data");
  createFakeLinuxRepo(path.join(ctx.workDir, "linux"));
  writeTree(path.join(ctx.workDir, "klipper-sized"), { ...klipperSizedTree(), Makefile: "all:\n" });
  const trees = ctx.quick ? 100 : 300;
  const history = generateHistoryRepo(path.join(ctx.workDir, "history.git"), { commits: trees * 3, kconfigChanges: trees - 1, tagEvery: 30 });

  let kbs = await openKbs(dataDir);
  const figures: BenchFigure[] = [];
  try {
    kbs.projects.add({ id: "linux", recipe: "linux", upstream: { kind: "git", url: path.join(ctx.workDir, "linux") } });
    kbs.projects.add({ id: "ksized", recipe: "kconfiglib", upstream: { kind: "git", url: path.join(ctx.workDir, "klipper-sized") } });
    kbs.projects.add({ id: "hist", recipe: "kconfiglib", upstream: { kind: "git", url: history.dir } });
    for (const p of ["linux", "ksized", "hist"]) await kbs.sync.sync(p);

    ctx.log("index time: fake Linux tree (mconf recipe, ARCH=x86_64)");
    figures.push(await indexFigure(kbs, "linux", "symbols.index.fake-linux", runs, "test/fixtures/fake-linux.ts, Kconfiglib with the recipe's environment"));
    ctx.log("index time: Klipper-sized tree");
    figures.push(await indexFigure(kbs, "ksized", "symbols.index.klipper-sized", runs, "12 Kconfig files like Klipper's"));

    ctx.log("search and lookup over HTTP");
    const router = createApiRouter(kbs);
    // Server-side time (request in to response end) beside the client-seen time, as the revdb suite does.
    let serverMs: number[] = [];
    const server = http.createServer((req, res) => {
      const t0 = performance.now();
      res.once("finish", () => serverMs.push(msSince(t0)));
      void router.handle(req, res);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/projects/ksized/revisions/HEAD/symbols`;
      const searches = ["?q=STM32", "?q=opt&limit=50", "?q=model%204", "?q=COMMON_1", "?q=zzz"];
      const lookups = ["/STM32_OPT_4", "/AVR_MODEL_3", "/COMMON_7", "/MACH_RP2040", "/LINUX_SELECT"];
      for (const q of [...searches, ...lookups]) await fetch(base + q).then((r) => r.text());
      const n = ctx.quick ? 100 : 300;
      for (const [name, paths] of [
        ["search", searches],
        ["lookup", lookups],
      ] as const) {
        serverMs = [];
        const client = await repeat(n, (i) => timeMs(() => fetch(base + paths[i % paths.length]).then((r) => r.text())));
        const what = name === "search" ? "GET .../symbols?q= on the Klipper-sized index" : "GET .../symbols/:name";
        figures.push({ name: `symbols.${name}`, unit: "ms", samples: client, target: "p95 <= 20 ms", note: `${what}, client-seen over loopback HTTP; ${load()}` });
        figures.push({ name: `symbols.${name}.server`, unit: "ms", samples: serverMs, target: "p95 <= 20 ms", note: "the same requests, server-side (request in to response end)" });
      }
    } finally {
      await new Promise((r) => server.close(r));
    }

    ctx.log(`indexing the ${kbs.revdb.hashes("hist").length} trees of the history fixture`);
    const backfillMs = await timeMs(() => kbs.symbols.backfill("hist"));
    const indexed = kbs.revdb.hashes("hist").length;
    figures.push({
      name: "symbols.backfill.per-tree",
      unit: "ms",
      samples: [Math.round(backfillMs / indexed)],
      note: `${indexed} trees indexed in ${(backfillMs / 1000).toFixed(1)} s (2 sandboxes at once); once per kconfig tree; ${load()}`,
    });
  } finally {
    await kbs.close();
  }

  ctx.log("history of one symbol, cold (fresh process) and cached");
  const symbol = "GEN_OPTION_3";
  const cold: number[] = [];
  const cached: number[] = [];
  let changes = 0;
  for (let i = 0; i < runs; i++) {
    kbs = await openKbs(dataDir);
    try {
      cold.push(await timeMs(async () => (changes = (await kbs.symbols.history("hist", symbol)).changes.length)));
      for (let j = 0; j < 20; j++) cached.push(await timeMs(() => kbs.symbols.history("hist", symbol)));
    } finally {
      await kbs.close();
    }
  }
  figures.push({ name: "symbols.history.cold", unit: "ms", samples: cold, target: "<= 1 s", note: `${symbol} across ${trees} kconfig trees (${history.commits} commits): the first request of a fresh process; ${changes} change(s)` });
  figures.push({ name: "symbols.history.cached", unit: "ms", samples: cached, target: "p95 <= 50 ms" });
  return figures;
};
