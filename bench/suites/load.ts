import path from "node:path";
import { demoTitle } from "./baseline";
import { startKbs } from "../../test/helpers/server";
import { runLoad } from "../load";
import type { BenchFigure, BenchSuite } from "../types";

/**
 * The load scenario as bench figures: 10 sessions by default, 50 and 100 with
 * `--full` (each size on a fresh `kbs serve`), every session typing and saving
 * while 2 builds run. Errors and lost saves must be zero at every size.
 */
export const suite: BenchSuite = async (ctx) => {
  const sizes = ctx.full ? [50, 100] : [10];
  const figures: BenchFigure[] = [];
  for (const n of sizes) {
    if (ctx.signal?.aborted) break;
    ctx.log(`${n} sessions typing and saving while 2 builds run`);
    const kbs = await startKbs({
      dataDir: path.join(ctx.workDir, `data-${n}`),
      withNext: false,
      // Every simulated user is this one address: a socket and an HTTP connection or two each.
      env: { KBS_SESSIONS_PER_CLIENT: String(n * 2), KBS_SESSIONS_MAX: String(n * 2), KBS_MAX_CONNECTIONS_PER_CLIENT: String(n * 4 + 64), KBS_BUILD_WORKERS: "1", KBS_LOG_LEVEL: "error" },
    });
    try {
      const r = await runLoad({ url: kbs.url, project: "demo", sessions: n, keystrokes: 12, builds: 2, title: demoTitle, serverPid: kbs.child.pid, timeoutMs: 60_000 + n * 5_000 });
      for (const e of r.errors.slice(0, 5)) ctx.log(`error: ${e}`);
      const lost = n - r.saves.filter((s) => s.stored).length;
      figures.push(
        { name: `load.${n}.errors`, unit: "count", samples: [r.errors.length], target: "<= 0 count", note: r.errors[0] },
        { name: `load.${n}.lost-saves`, unit: "count", samples: [lost], target: "<= 0 count", note: "saves not found with their change in the config store" },
        { name: `load.${n}.keystroke`, unit: "ms", samples: r.keystrokeMs, target: n >= 50 ? "p95 <= 30 ms" : undefined, note: "key to first redraw byte, every key of every session" },
        { name: `load.${n}.first-frame`, unit: "ms", samples: r.firstFrameMs, note: "POST /api/sessions to the top menu on screen, all sessions starting together" },
        { name: `load.${n}.save`, unit: "ms", samples: r.saveMs, note: "menuconfig S to the 'saved' message" },
        { name: `load.${n}.server-memory`, unit: "MB", samples: [r.memory.serverMB], note: "kbs process RSS, peak" },
        { name: `load.${n}.tree-memory`, unit: "MB", samples: [r.memory.peakTreeMB], note: `RSS summed over kbs and its ${r.memory.peakProcesses} processes (sandboxes, builds), peak` },
      );
    } finally {
      await kbs.stop();
    }
  }
  return figures;
};
