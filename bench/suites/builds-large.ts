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
 * CPU ms (user + sys) this process and its waited-for children (bwrap and all it ran, git,
 * the bare make) have used so far: the server runs in this process, so a delta around one
 * build or one bare make is that run's CPU, which other load on the machine barely moves.
 */
function cpuMs(): number {
  const ticks = 100; // USER_HZ on Linux
  const f = fs.readFileSync("/proc/self/stat", "utf8").split(") ")[1]!.split(" ");
  const children = (Number(f[13]) + Number(f[14])) * (1000 / ticks);
  const own = process.cpuUsage();
  return children + (own.user + own.system) / 1000;
}

async function withCpu(fn: () => Promise<unknown>, cpu: number[]): Promise<void> {
  const c0 = cpuMs();
  await fn();
  cpu.push(cpuMs() - c0);
}

/**
 * The target on a tree of Klipper's shape (thousands of files, tens of MB, generated
 * here): a cold sandboxed build, request to `succeeded` with an empty ccache, against a bare
 * `make` in a `git clone` of the same commit, alternated so load hits both alike. The note says
 * where the sandboxed build's time went (median per step, from the manifests' host-clock timings);
 * a second figure gives both sides' CPU time, steadier than the wall clock on a shared machine.
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
    const bareCpu: number[] = [];
    const kbsCpu: number[] = [];
    const steps = new Map<string, number[]>();
    const cold = await repeat(runs, async () => {
      fs.rmSync(path.join(clone, "out"), { recursive: true, force: true });
      fs.writeFileSync(path.join(clone, ".config"), config(blink));
      await withCpu(async () => bare.push(await timeCommand(["sh", "-c", `make olddefconfig PYTHON=${systemPython} >/dev/null && make -j2 PYTHON=${systemPython} >/dev/null`], { cwd: clone })), bareCpu);
      fs.rmSync(ccache, { recursive: true, force: true });
      let done: BuildView | undefined;
      let ms = 0;
      await withCpu(async () => void (ms = await timeMs(async () => void (done = await build(s.url, "v1.0.0", config(blink++), "big")))), kbsCpu);
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
      {
        name: "builds.cold_build_klipper_sized_cpu",
        unit: "ms",
        samples: kbsCpu,
        baseline: { name: "CPU of bare make (olddefconfig + make -j2) in a git clone of the same commit", samples: bareCpu },
        note: "the same runs' CPU (user + sys of kbs's process and every process it waited for: sandbox, git, compilers, the request and the polling): what kbs adds, which other load on this shared machine moves far less than the wall clock",
      },
    ];
  } finally {
    await s.close();
  }
};
