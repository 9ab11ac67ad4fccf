import { formatChecks, runChecks } from "../doctor";
import { loadSettings } from "../settings";
import "../sandbox/doctor";
import "../gitref/doctor";

export async function run(_argv: string[]): Promise<number> {
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
