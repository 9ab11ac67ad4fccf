import path from "node:path";
import { repeat, timeMs } from "../stats";
import type { BenchFigure, BenchSuite } from "../types";
import { addFixtureProject } from "../../test/fixtures/builds";
import { createKbs } from "../../server/kbs";
import { loadSettings } from "../../server/core/settings";
import { createPrinterFixtureRepo } from "../../test/fixtures/presets";

/**
 * Board-preset figures on the Klipper-shaped fixture (recipe klipper): extraction time per
 * revision (every board file parsed and matched in one sandbox run, the cache emptied
 * between samples) beside one olddefconfig on the same tree (the cost of any sandboxed
 * Kconfig run), the cached list, and the share of the fixture's board files that map
 * completely.
 */
export const suite: BenchSuite = async (ctx) => {
  const fx = createPrinterFixtureRepo(path.join(ctx.workDir, "printer"));
  const env = { KBS_DATA_DIR: path.join(ctx.workDir, "presets-data"), KBS_UPSTREAMS: "0", KBS_BUILTINS: "0", KBS_POOL_SIZE: "0", KBS_BUILD_WORKERS: "1", KBS_PRIMED_TREES: "0", KBS_LOG_LEVEL: "warn" };
  await addFixtureProject(env, "printer", fx.dir, "klipper");
  const kbs = await createKbs(loadSettings(env));
  const figures: BenchFigure[] = [];
  try {
    const { presets } = kbs;
    const n = ctx.quick ? 3 : 5;
    for (const rev of ["v1.0", "v1.1"]) {
      ctx.log(`preset extraction at ${rev}`);
      const revision = kbs.revdb.resolve("printer", rev);
      const extract = await repeat(n, async () => {
        kbs.db.prepare("DELETE FROM preset_sets").run();
        return timeMs(() => presets.set("printer", rev));
      }, 1);
      const olddef = await repeat(n, () => timeMs(() => kbs.kconfig.olddefconfig("printer", revision, "")), 1);
      figures.push({
        name: `presets.extract.${rev}`,
        unit: "ms",
        samples: extract,
        baseline: { name: "one olddefconfig on the same tree (sandboxed)", samples: olddef },
        note: "every board file of the revision parsed and matched to its Kconfig in one sandbox run",
      });
    }
    const cached = await repeat(n, () => timeMs(() => presets.list("printer", "v1.0", "skr")));
    figures.push({ name: "presets.list.cached", unit: "ms", samples: cached, note: "GET .../presets?q= once extracted (cache hit: ls-tree + SQLite)" });

    const set = await presets.set("printer", "v1.0");
    const boardFiles = set.presets.length + set.none + set.failed.length;
    const complete = set.presets.filter((p) => p.complete).length;
    const asExpected = set.presets.filter((p) => fx.expected[p.id]?.complete === p.complete).length;
    figures.push({
      name: "presets.fixture.complete_share",
      unit: "ratio",
      samples: [complete / boardFiles],
      note: `${complete} of ${boardFiles} fixture board files map completely (${set.presets.length - complete} leave questions, ${set.none} have no instructions, ${set.failed.length} failed); ${asExpected}/${set.presets.length} as the fixture expects`,
    });
  } finally {
    await kbs.close();
  }
  return figures;
};
