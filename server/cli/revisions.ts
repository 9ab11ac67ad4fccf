import { parseArgs } from "node:util";
import { UsageError } from "./exit";
import { createKbs } from "../kbs";
import { loadSettings } from "../core/settings";

export const usage = "usage: kbs revisions <project> [--json] [--limit N] [--q TEXT]";

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { json: { type: "boolean" }, limit: { type: "string" }, q: { type: "string" } } });
  if (positionals.length !== 1) throw new UsageError(positionals.length ? "give one project" : "give a project");
  const limit = values.limit === undefined ? undefined : Number(values.limit);
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) throw new UsageError("--limit must be a whole number of at least 1");
  const kbs = await createKbs(loadSettings());
  try {
    const project = kbs.projects.require(positionals[0]!);
    const revs = kbs.revdb.list(project.id, { q: values.q, limit });
    if (values.json) {
      process.stdout.write(JSON.stringify(revs, null, 2) + "\n");
      return 0;
    }
    if (!revs.length) {
      process.stdout.write(`${project.id} has no indexed revisions${project.sync.state === "ok" ? "" : ` (sync: ${project.sync.state}${project.sync.message ? `, ${project.sync.message}` : ""})`}; run: kbs sync ${project.id}\n`);
      return 0;
    }
    const rows = revs.map((r) => [r.describe, r.sha.slice(0, 12), r.date.slice(0, 10), r.kconfigHash.slice(0, 12), String(r.sameKconfigCount), r.refs.join(" ")]);
    const head = ["DESCRIBE", "SHA", "DATE", "KCONFIG", "SAME", "REFS"];
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    for (const r of [head, ...rows]) process.stdout.write(r.map((c, i) => (i < head.length - 1 ? c.padEnd(widths[i]!) : c)).join("  ").trimEnd() + "\n");
    return 0;
  } finally {
    await kbs.close();
  }
}
