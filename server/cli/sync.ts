import { parseArgs } from "node:util";
import { createKbs } from "../kbs";
import type { SyncProgress } from "../projects/sync";
import { printableName } from "../gitref/refname";
import { loadSettings } from "../core/settings";

/** A progress bar on a terminal; on a pipe, one plain line per phase and per tenth of the work. */
function progressPrinter(id: string, tty: boolean): { update(p: SyncProgress): void; end(): void } {
  let lastLine = "";
  return {
    update(p) {
      if (tty) {
        const frac = p.total ? Math.min(1, p.done / p.total) : 0;
        const width = 30;
        const bar = "#".repeat(Math.round(frac * width)).padEnd(width, ".");
        const count = p.total ? ` ${p.done}/${p.total}` : "";
        process.stderr.write(`\r\x1b[K${id} ${p.phase.padEnd(7)} [${bar}]${count}`);
        return;
      }
      const tenth = p.total ? Math.floor((10 * p.done) / p.total) : 0;
      const line = `${id}: ${p.phase}${p.total ? ` ${tenth * 10}%` : ""}`;
      if (line !== lastLine) {
        lastLine = line;
        process.stdout.write(`${id}: ${p.phase}${p.total ? ` ${p.done}/${p.total}` : ""}\n`);
      }
    },
    end() {
      if (tty) process.stderr.write("\r\x1b[K");
    },
  };
}

export const usage = "usage: kbs sync [<project>...]   fetch into gitref, index revisions, make kconfig bundles (all projects when none is named)";

export async function run(argv: string[]): Promise<number> {
  const { positionals } = parseArgs({ args: argv, allowPositionals: true, options: {} });
  const kbs = await createKbs(loadSettings());
  let failed = 0;
  try {
    const ids = positionals.length ? positionals : kbs.projects.list().map((p) => p.id);
    for (const id of ids) kbs.projects.require(id);
    for (const id of ids) {
      const printer = progressPrinter(id, !!process.stderr.isTTY);
      try {
        const r = await kbs.sync.sync(id, (p) => printer.update(p));
        printer.end();
        process.stdout.write(
          `${id}: ok, ${r.newCommits} new of ${r.totalCommits} revisions${r.removedCommits ? ` (${r.removedCommits} unreachable dropped)` : ""}, ${r.bundlesWritten} new kconfig bundle(s)${r.skippedRefs.length ? `; skipped refs with unusable names: ${r.skippedRefs.map(printableName).join(", ")}` : ""}\n`,
        );
      } catch (e) {
        printer.end();
        failed++;
        process.stderr.write(`${id}: ${(e as Error).message}\n`);
      }
    }
  } finally {
    await kbs.close();
  }
  return failed ? 1 : 0;
}
