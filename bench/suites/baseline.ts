import fs from "node:fs";
import path from "node:path";
import { bareMake, localMenuconfigFirstFrame, lsTreeIndex, repeat, systemPython, timeCommand } from "../baselines";
import { demoTree, generateHistoryRepo } from "../../test/fixtures/fake-firmware";
import type { BenchSuite } from "../types";

/** The demo tree's menuconfig title: the frame counts as drawn once it shows. */
export const demoTitle = "kbs demo firmware configuration";

/**
 * The shared baselines on their own, on the demo tree and a generated history:
 * what this machine does without kbs. Part suites measure the same baselines
 * beside their figures; these rows let a reader check the machine at a glance.
 */
export const suite: BenchSuite = async (ctx) => {
  const tree = path.join(ctx.workDir, "demo");
  fs.cpSync(demoTree, tree, { recursive: true });

  ctx.log("local make menuconfig in tmux");
  const menuconfig = await localMenuconfigFirstFrame({ dir: tree, title: demoTitle, runs: ctx.quick ? 5 : 10 });

  ctx.log("bare make of the demo firmware");
  await timeCommand(["make", "olddefconfig", `PYTHON=${systemPython}`], { cwd: tree });
  const make = await bareMake({ dir: tree, runs: ctx.quick ? 3 : 5 });

  const commits = ctx.quick ? 2_000 : 5_000;
  ctx.log(`ls-tree per commit over a generated history of ${commits} commits`);
  const repo = generateHistoryRepo(path.join(ctx.workDir, "history.git"), { commits, kconfigChanges: commits / 50, tagEvery: 500 });
  const kconfigPaths = ["**/Kconfig", "**/Kconfig.*", "lib/kconfiglib/**"];
  const lsTree = await repeat(3, async () => (await lsTreeIndex({ repoDir: repo.dir, kconfigPaths, maxMs: ctx.quick ? 1_000 : 2_000 })).commitsPerSec);

  return [
    { name: "baseline.local-menuconfig.first-frame", unit: "ms", samples: menuconfig, note: "demo tree, make menuconfig in a 120x40 tmux pane" },
    { name: "baseline.bare-make", unit: "ms", samples: make, note: "demo firmware, make -j2 after make clean, no sandbox" },
    { name: "baseline.ls-tree-index", unit: "commits/s", samples: lsTree, note: `one git ls-tree per commit, ${commits}-commit history` },
  ];
};
