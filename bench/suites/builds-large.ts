import fs from "node:fs";
import path from "node:path";
import { systemPython, timeCommand } from "../baselines";
import { repeat, stats } from "../stats";
import type { BenchFigure, BenchSuite } from "../types";
import { run } from "../../server/core/proc";
import { config, post, server, waitDone } from "./builds";
import { createKlipperSizedRepo } from "../../test/fixtures/builds";
import type { Manifest } from "../../server/builds/types";

const median = (xs: number[]) => stats(xs).median;
const spread = (xs: number[]) => `${Math.round(Math.min(...xs))}-${Math.round(Math.max(...xs))}`;

/**
 * The target on a tree of Klipper's shape (thousands of files, tens of MB, generated
 * here): a cold sandboxed build, from POST /api/builds (the config saved before as a menuconfig
 * session saves it, as the bare side's .config is written before its clock starts) to the client seeing `succeeded` (the
 * log followed to its end, as `kbs build` does), with an empty ccache, against `make
 * olddefconfig && make -j2` in a `git clone` of the same commit, alternated so load hits both
 * alike. The clone is made once: a developer builds in the clone they have. The note says where
 * each side's time went (median ms): the request (the config's olddefconfig for the build key),
 * each step of the manifest's host-clock timings, and the tail from the manifest to `succeeded`
 * reaching the client; the bare make's olddefconfig and make. A second figure gives each pair's ratio.
 */
export const suite: BenchSuite = async (ctx): Promise<BenchFigure[]> => {
  const runs = ctx.quick ? 2 : 7;
  ctx.log("builds: a Klipper-sized tree (2,400 files, ~45 MB): cold sandboxed builds against bare make in a git clone");
  const repo = createKlipperSizedRepo(path.join(ctx.workDir, "klipper-sized"), ctx.quick ? { files: 2000, blobMB: 20 } : {});
  const clone = path.join(ctx.workDir, "klipper-sized-clone");
  await run("git", ["clone", "-q", repo, clone]);
  const s = await server(ctx.workDir, "klipper-sized-data", repo, 1, "big");
  try {
    const ccache = path.join(s.kbs.settings.dataDir, "ccache");
    const revision = s.kbs.revdb.resolve("big", "v1.0.0");
    let blink = 2000;
    const bare: number[] = [];
    const steps = new Map<string, number[]>();
    const add = (step: string, ms: number) => steps.set(step, [...(steps.get(step) ?? []), ms]);
    const pairs: number[] = [];
    const bareSteps = { olddefconfig: [] as number[], make: [] as number[] };
    const cold = await repeat(runs, async () => {
      fs.rmSync(path.join(clone, "out"), { recursive: true, force: true });
      fs.writeFileSync(path.join(clone, ".config"), config(blink));
      const olddef = await timeCommand(["make", "olddefconfig", `PYTHON=${systemPython}`], { cwd: clone });
      const make = await timeCommand(["make", "-j2", `PYTHON=${systemPython}`], { cwd: clone });
      bareSteps.olddefconfig.push(olddef);
      bareSteps.make.push(make);
      bare.push(olddef + make);

      fs.rmSync(ccache, { recursive: true, force: true });
      // Saved as a menuconfig session saves it (before the clock, as the bare side's .config): what the tree's tools wrote.
      const text = config(blink++);
      const written = await s.kbs.kconfig.olddefconfig("big", revision, text);
      const { id: configId } = s.kbs.configs.put({ project: "big", rev: "v1.0.0", text: written, written: true });
      // The server runs in this process: its timestamps and this clock agree.
      const t0 = performance.now();
      const wall0 = Date.now();
      const req = await post(s.url, "/api/builds", { project: "big", rev: "v1.0.0", configId });
      if (req.status >= 400) throw new Error(`POST /api/builds: ${req.status} ${JSON.stringify(req.json)}`);
      const done = await waitDone(s.url, req.json.id);
      const total = performance.now() - t0;
      const timings = (done.manifest as Manifest).timings;
      const created = Date.parse(done.createdAt);
      add("request", created - wall0);
      for (const t of timings) add(t.step, t.ms);
      add("to client", wall0 + total - created - timings.reduce((a, t) => a + t.ms, 0));
      pairs.push(total / (olddef + make));
      return Math.round(total * 100) / 100;
    });
    const where = [...steps].map(([step, ms]) => `${step} ${Math.round(median(ms))}`).join(", ");
    return [
      {
        name: "builds.cold_build_klipper_sized",
        unit: "ms",
        samples: cold,
        baseline: { name: "bare make (olddefconfig + make -j2) in a git clone of the same commit", samples: bare },
        target: "ratio <= 1.10",
        note:
          `POST /api/builds to succeeded seen by the client (log followed), empty ccache, git work tree in the sandbox; ` +
          `kbs median ms per step: ${where}; bare median ms: olddefconfig ${Math.round(median(bareSteps.olddefconfig))}, make ${Math.round(median(bareSteps.make))}; ` +
          `spread kbs ${spread(cold)}, bare ${spread(bare)}`,
      },
      {
        name: "builds.cold_build_klipper_sized_pairs",
        unit: "ratio",
        samples: pairs.map((r) => Math.round(r * 1000) / 1000),
        target: "median <= 1.10",
        note: "the same runs as pairs: each cold build over the bare make just before it. Load on a shared machine moves both sides of a pair alike and single samples over 2x, so the median of the pairs' ratios is steadier than the ratio of the medians",
      },
    ];
  } finally {
    await s.close();
  }
};
