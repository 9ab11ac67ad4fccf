import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { loadSettings } from "../../server/core/settings";
import { localMenuconfigFirstFrame } from "../baselines";
import { startKbs } from "../../test/helpers/server";
import { api, LoadTerminal } from "../load";
import { repeat } from "../stats";
import type { BenchFigure, BenchSuite } from "../types";

/** The top frame of either frontend, whatever the tree's title: Kconfiglib's "(Top)", mconf's help line. */
const topFrame = /\(Top\)|Arrow keys navigate the menu/;
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
  const kbs = await startKbs({ dataDir, withNext: false, env: { KBS_UPSTREAMS: "0", KBS_BUILD_WORKERS: "1", KBS_LOG_LEVEL: "error" } });
  try {
    const revs = await api<Array<{ sha: string; describe: string }>>(`${kbs.url}/api/projects/${encodeURIComponent(id)}/revisions?limit=1`).catch((e: Error) => {
      throw new Error(`project '${id}' in ${dataDir}: ${e.message}`);
    });
    const rev = revs[0];
    if (!rev) throw new Error(`project '${id}' has no revisions yet: run kbs sync ${id}`);
    const runs = ctx.quick ? 3 : 5;
    ctx.log(`${id} ${rev.describe}: first frame (${runs} sessions)`);
    const keystrokes: number[] = [];
    const firstFrame = await repeat(runs, async (i) => {
      const t0 = performance.now();
      const created = await api<{ wsPath: string }>(`${kbs.url}/api/sessions`, { method: "POST", body: { project: id, rev: rev.sha } });
      const term = await LoadTerminal.open(kbs.url, created.wsPath, 120, 40);
      try {
        await term.until("the top menu", () => topFrame.test(term.screen()), 120_000);
        const ms = Math.round(performance.now() - t0);
        if (i === 0) for (let k = 0; k < 20; k++) keystrokes.push(await term.press(k % 2 ? "up" : "down", 30_000));
        return ms;
      } finally {
        term.close();
      }
    });

    ctx.log(`${id}: local make menuconfig on a checkout of ${rev.describe}`);
    const tree = path.join(ctx.workDir, "tree");
    fs.mkdirSync(tree);
    execFileSync("sh", ["-c", `git --git-dir "$1" archive "$2" | tar -x -C "$3"`, "sh", path.join(dataDir, "gitref.git"), rev.sha, tree], { maxBuffer: 1024 * 1024 });
    const local = await localMenuconfigFirstFrame({ dir: tree, title: topFrame, runs, timeoutMs: 180_000 }).catch((e: Error) => {
      ctx.log(`local menuconfig failed: ${e.message.split("\n")[0]}`);
      return [];
    });

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
    const baseline = local.length ? { name: "local make menuconfig in tmux, same revision", samples: local } : undefined;
    const figures: BenchFigure[] = [
      { name: `project.${id}.first-frame`, unit: "ms", samples: firstFrame, baseline, note: `${rev.describe}, cold and warm sessions through a kbs serve on ${dataDir}` },
      { name: `project.${id}.keystroke`, unit: "ms", samples: keystrokes, note: "key to first redraw byte, one session" },
      view.state === "succeeded"
        ? { name: `project.${id}.build`, unit: "s", samples: [buildMs / 1000], note: requested.cached ? "served from the build cache" : "default config, cold" }
        : { name: `project.${id}.build`, unit: "s", samples: [], skipped: `the build ${view.state}: ${view.errorSummary ?? ""}`.slice(0, 200) },
    ];
    return figures;
  } finally {
    await kbs.stop();
  }
};
