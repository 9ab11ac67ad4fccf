import fs from "node:fs";
import path from "node:path";
import { systemPython, timeCommand } from "../baselines";
import { repeat, timeMs } from "../stats";
import type { BenchFigure, BenchSuite } from "../types";
import { run } from "../../server/core/proc";
import { build, config, server } from "./builds";
import { createKlipperSizedRepo } from "../../test/fixtures/builds";
import type { BuildView, Manifest } from "../../server/builds/types";

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

/**
 * The issue's target on a tree of Klipper's shape (thousands of files, tens of MB, generated
 * here): a cold sandboxed build, request to `succeeded` with an empty ccache, against a bare
 * `make` in a `git clone` of the same commit, alternated so load hits both alike. The note says
 * where the sandboxed build's time went (median per step, from the manifests' host-clock timings).
 */
export const suite: BenchSuite = async (ctx): Promise<BenchFigure[]> => {
  const runs = ctx.quick ? 2 : 4;
  ctx.log("builds: a Klipper-sized tree (2,400 files, ~45 MB): cold sandboxed builds against bare make in a git clone");
  const repo = createKlipperSizedRepo(path.join(ctx.workDir, "klipper-sized"), ctx.quick ? { files: 2000, blobMB: 20 } : {});
  const clone = path.join(ctx.workDir, "klipper-sized-clone");
  await run("git", ["clone", "-q", repo, clone]);
  const s = await server(ctx.workDir, "klipper-sized-data", repo, 1, "big");
  try {
    const ccache = path.join(s.kbs.settings.dataDir, "ccache");
    let blink = 2000;
    const bare: number[] = [];
    const steps = new Map<string, number[]>();
    const cold = await repeat(runs, async () => {
      fs.rmSync(path.join(clone, "out"), { recursive: true, force: true });
      fs.writeFileSync(path.join(clone, ".config"), config(blink));
      bare.push(await timeCommand(["sh", "-c", `make olddefconfig PYTHON=${systemPython} >/dev/null && make -j2 PYTHON=${systemPython} >/dev/null`], { cwd: clone }));
      fs.rmSync(ccache, { recursive: true, force: true });
      let done: BuildView | undefined;
      const ms = await timeMs(async () => void (done = await build(s.url, "v1.0.0", config(blink++), "big")));
      for (const t of (done!.manifest as Manifest).timings) steps.set(t.step, [...(steps.get(t.step) ?? []), t.ms]);
      return ms;
    });
    const where = [...steps].map(([step, ms]) => `${step} ${Math.round(median(ms))}`).join(", ");
    return [
      {
        name: "builds.cold_build_klipper_sized",
        unit: "ms",
        samples: cold,
        baseline: { name: "bare make (olddefconfig + make -j2) in a git clone of the same commit", samples: bare },
        target: "ratio <= 1.10",
        note: `request to succeeded, empty ccache, git work tree checked out in the sandbox; median ms per step: ${where}`,
      },
    ];
  } finally {
    await s.close();
  }
};
