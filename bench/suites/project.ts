import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { loadSettings } from "../../server/core/settings";
import { localMenuconfigFirstFrame } from "../baselines";
import { startKbs } from "../../test/helpers/server";
import { arrivalPatterns, arrivalRows, firstSessions, topFrame, warmUnprimed } from "../arrivals";
import { api, LoadTerminal } from "../load";
import type { BenchSuite } from "../types";

const SPACED_MS = 5000;
const finalStates = new Set(["succeeded", "failed", "timed_out", "cancelled"]);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * `kbs bench --project <id>`: the session and build figures on a project the operator
 * added and synced (a real Klipper clone, a kernel tree), through a `kbs serve` on the
 * operator's own data dir (KBS_DATA_DIR), beside local `make menuconfig` on a checkout
 * of the same revision.
 */
export const suite: BenchSuite = async (ctx) => {
  const id = ctx.project;
  if (!id) return [{ name: "project", unit: "ms", samples: [], skipped: "only with --project <id> (a project added with kbs project add and synced)" }];
  const dataDir = loadSettings().dataDir;
  let kbs = await startKbs({ dataDir, withNext: false, env: { KBS_UPSTREAMS: "0", KBS_BUILD_WORKERS: "1", KBS_LOG_LEVEL: "error" } });
  try {
    const revs = await api<Array<{ sha: string; describe: string }>>(`${kbs.url}/api/projects/${encodeURIComponent(id)}/revisions?limit=1`).catch((e: Error) => {
      throw new Error(`project '${id}' in ${dataDir}: ${e.message}`);
    });
    const rev = revs[0];
    if (!rev) throw new Error(`project '${id}' has no revisions yet: run kbs sync ${id}`);
    const runs = ctx.quick ? 3 : 5;
    const arrivals = await arrivalPatterns(kbs.url, id, rev.sha, { n: runs, spacedMs: SPACED_MS, log: (m) => ctx.log(`${id} ${rev.describe}: ${m}`) });
    ctx.log(`${id}: keystrokes, one session`);
    const keystrokes: number[] = [];
    {
      const created = await api<{ wsPath: string }>(`${kbs.url}/api/sessions`, { method: "POST", body: { project: id, rev: rev.sha } });
      const term = await LoadTerminal.open(kbs.url, created.wsPath, 120, 40);
      try {
        await term.until("the top menu", () => topFrame.test(term.screen()), 120_000);
        for (let k = 0; k < 20; k++) keystrokes.push(await term.press(k % 2 ? "up" : "down", 30_000));
      } finally {
        term.close();
      }
    }
    await kbs.stop();
    ctx.log(`${id}: warm, unprimed sessions (${runs})`);
    const unprimed = await startKbs({ dataDir, withNext: false, env: { KBS_UPSTREAMS: "0", KBS_BUILD_WORKERS: "0", KBS_LOG_LEVEL: "error", KBS_PRIMED_TREES: "0" } });
    const warm = await warmUnprimed(unprimed.url, id, rev.sha, runs).finally(() => unprimed.stop());
    ctx.log(`${id}: the first session of ${runs - 1} more fresh servers`);
    const primedServer = () => startKbs({ dataDir, withNext: false, env: { KBS_UPSTREAMS: "0", KBS_BUILD_WORKERS: "1", KBS_LOG_LEVEL: "error" } });
    const moreAfterSync = await firstSessions(primedServer, id, rev.sha, runs - 1);
    kbs = await primedServer();

    ctx.log(`${id}: local make menuconfig on a checkout of ${rev.describe}`);
    const tree = path.join(ctx.workDir, "tree");
    fs.mkdirSync(tree);
    execFileSync("sh", ["-c", `git --git-dir "$1" archive "$2" | tar -x -C "$3"`, "sh", path.join(dataDir, "gitref.git"), rev.sha, tree], { maxBuffer: 1024 * 1024 });
    const local = await localMenuconfigFirstFrame({ dir: tree, title: topFrame, runs, timeoutMs: 180_000 }).catch((e: Error) => {
      ctx.log(`local menuconfig failed: ${e.message.split("\n")[0]}`);
      return [];
    });

    const baseline = local.length ? { name: "local make menuconfig in tmux, same revision", samples: local } : undefined;
    const figures = arrivalRows(`project.${id}`, arrivals, warm, baseline, SPACED_MS, moreAfterSync);
    figures.push({ name: `project.${id}.keystroke`, unit: "ms", samples: keystrokes, note: "key to first redraw byte, one session" });
    if (!ctx.full && !ctx.kernelBuild) {
      figures.push({ name: `project.${id}.build`, unit: "s", samples: [], skipped: "a build of the default config runs with --full or --kernel-build (a kernel takes longer than the suite's budget)" });
      return figures;
    }
    ctx.log(`${id}: a build of the default config`);
    const config = await api<{ id: string }>(`${kbs.url}/api/configs`, { method: "POST", body: { project: id, rev: rev.sha, text: "" } });
    const t0 = performance.now();
    const requested = await api<{ id: string; cached: boolean }>(`${kbs.url}/api/builds`, { method: "POST", body: { project: id, rev: rev.sha, configId: config.id } });
    let view = await api<{ state: string; errorSummary: string | null }>(`${kbs.url}/api/builds/${requested.id}`);
    while (!finalStates.has(view.state)) {
      if (ctx.signal?.aborted) break;
      await sleep(500);
      view = await api(`${kbs.url}/api/builds/${requested.id}`);
    }
    const buildMs = Math.round(performance.now() - t0);
    figures.push(
      view.state === "succeeded"
        ? { name: `project.${id}.build`, unit: "s", samples: [buildMs / 1000], note: requested.cached ? "served from the build cache" : "default config, cold" }
        : { name: `project.${id}.build`, unit: "s", samples: [], skipped: `the build ${view.state}: ${view.errorSummary ?? ""}`.slice(0, 200) },
    );
    return figures;
  } finally {
    await kbs.stop();
  }
};
