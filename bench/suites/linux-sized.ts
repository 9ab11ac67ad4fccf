import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { arrivalPatterns, arrivalRows, firstSessions, topFrame, warmUnprimed } from "../arrivals";
import { localMenuconfigFirstFrame } from "../baselines";
import { createLinuxSizedRepo, LINUX_6_1_SIZE } from "../../test/fixtures/fake-linux";
import { kbsBin, startKbs } from "../../test/helpers/server";
import type { BenchFigure, BenchSuite } from "../types";

const SPACED_MS = 5000;

/**
 * Issue 19's session figures on a kernel tree of Linux 6.1's Kconfig size (generated:
 * ~1,700 Kconfig files, ~19,000 symbols; test/fixtures/fake-linux.ts), added with
 * `kbs project add --recipe linux` and synced: five sessions back to back, five 5 s
 * apart, and the first session after the sync (one per fresh server, several servers)
 * beside the warm unprimed one, all beside local `make menuconfig` on the same tree.
 */
export const suite: BenchSuite = async (ctx) => {
  const runs = ctx.quick ? 3 : 5;
  const repo = createLinuxSizedRepo(path.join(ctx.workDir, "linux-sized"), LINUX_6_1_SIZE);
  const figures: BenchFigure[] = [];
  const dataDir = (name: string) => {
    const dir = path.join(ctx.workDir, `data-${name}`);
    fs.mkdirSync(dir, { recursive: true });
    const env = { ...process.env, KBS_DATA_DIR: dir, KBS_UPSTREAMS: "0", KBS_BUILTINS: "0" };
    execFileSync(process.execPath, [kbsBin, "project", "add", "big", "--recipe", "linux", "--url", repo.dir], { env, stdio: "ignore" });
    execFileSync(process.execPath, [kbsBin, "sync", "big"], { env, stdio: "ignore" });
    return dir;
  };
  const serve = (dir: string, env: Record<string, string>) =>
    startKbs({ dataDir: dir, withNext: false, env: { KBS_BUILTINS: "0", KBS_LOG_LEVEL: "warn", KBS_SESSIONS_PER_CLIENT: "100", KBS_BUILD_WORKERS: "0", KBS_POOL_SIZE: "2", ...env } });

  ctx.log(`local make menuconfig on the tree (${runs} runs)`);
  const checkout = path.join(ctx.workDir, "checkout");
  execFileSync("git", ["clone", "-q", repo.dir, checkout]);
  const local = await localMenuconfigFirstFrame({ dir: checkout, title: topFrame, runs, timeoutMs: 120_000 });
  const baseline = { name: "local make menuconfig in tmux, same tree", samples: local };

  ctx.log(`warm, unprimed (${runs} runs)`);
  const unprimed = await serve(dataDir("unprimed"), { KBS_PRIMED_TREES: "0" });
  let warm: number[];
  try {
    warm = await warmUnprimed(unprimed.url, "big", repo.commit, runs + 1);
    warm = warm.slice(1);
  } finally {
    await unprimed.stop();
  }

  const primedDir = dataDir("primed");
  ctx.log(`the first session of ${runs - 1} more fresh servers after the sync`);
  const moreAfterSync = await firstSessions(() => serve(primedDir, {}), "big", repo.commit, runs - 1);
  const primed = await serve(primedDir, {});
  try {
    const a = await arrivalPatterns(primed.url, "big", repo.commit, { n: 5, spacedMs: SPACED_MS, log: ctx.log });
    figures.push(...arrivalRows("linux-sized", a, warm, baseline, SPACED_MS, moreAfterSync));
  } finally {
    await primed.stop();
  }
  return figures;
};
