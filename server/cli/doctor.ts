import { parseArgs } from "node:util";
import { formatChecks, runChecks } from "../doctor";
import { loadSettings } from "../core/settings";
import "../sandbox/doctor";
import "../gitref/doctor";

export const usage = "usage: kbs doctor   what this machine can run, and how to fix what it cannot";

export async function run(argv: string[]): Promise<number> {
  parseArgs({ args: argv, options: {} });
  const settings = loadSettings();
  const results = await runChecks({ env: process.env, dataDir: settings.dataDir });
  process.stdout.write(formatChecks(results) + "\n");
  const failed = results.filter((r) => r.required && !r.ok);
  if (failed.length) {
    process.stdout.write(`\n${failed.length} required check(s) failed; run the fixes above, then 'kbs doctor' again.\n`);
    return 1;
  }
  process.stdout.write("\nall required checks passed\n");
  return 0;
}
