import { parseArgs } from "node:util";
import { UsageError } from "./exit";
import { upgradeConfig } from "../configs/upgrade";
import { createKbs } from "../kbs";
import { loadSettings } from "../core/settings";

export const usage = "usage: kbs config upgrade <config-id> <rev> [--json]";
export const subVerbs = ["upgrade"];

/** `kbs config upgrade <config-id> <rev>`: the config brought to another revision, with what changed. */
export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { json: { type: "boolean" } } });
  if (positionals[0] !== "upgrade" || positionals.length !== 3) throw new UsageError(positionals[0] !== "upgrade" ? "the only sub-verb is upgrade" : "give a config id and a revision");
  const [, id, rev] = positionals as [string, string, string];
  const kbs = await createKbs(loadSettings());
  try {
    const out = await upgradeConfig(kbs, id, rev);
    if (values.json) {
      process.stdout.write(JSON.stringify(out, null, 2) + "\n");
      return 0;
    }
    const w = (s: string) => process.stdout.write(s + "\n");
    w(`upgraded ${id.slice(0, 12)} (${out.from.describe}) to ${out.to.describe}: config ${out.configId}`);
    for (const s of out.new) w(`  new      ${s.symbol}=${s.value}${s.prompt ? `  (${s.prompt})` : ""}`);
    for (const s of out.removed) w(`  removed  ${s.symbol}=${s.value}`);
    for (const s of out.changed) w(`  changed  ${s.symbol}: ${s.from} -> ${s.to}`);
    if (!out.new.length && !out.removed.length && !out.changed.length) w("  no symbol changed");
    return 0;
  } finally {
    await kbs.close();
  }
}
