import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { CliError } from "../server/cli/exit";
import { svgChart } from "./chart";
import { markdownTable, textTable } from "./report";
import { removeDir, runBench } from "./runner";
import { killAllGroups } from "../server/core/proc";
import { processTree } from "./proctree";
import { suites } from "./suites";

export const usage = `usage: kbs bench [--json] [--out FILE] [--quick] [--only SUITE,...] [--project ID] [--kernel-build] [--full]

Builds its own fixtures in a temporary directory, runs every benchmark suite and
prints a table: min/median/p95 per figure, the baseline measured in the same run,
the ratio, and pass/miss against the issue's target.

  --json           print the report as JSON (progress goes to stderr)
  --out FILE       also write FILE (JSON), FILE's .md (Markdown table) and .svg (chart)
  --quick          fewer repetitions, smaller fixtures (CI)
  --only a,b       run only these suites
  --project ID     also measure session and build figures on this project (kbs project add)
  --kernel-build   include the long opt-in figures (a real kernel build)
  --full           full sizes (load at 50 and 100 sessions)

suites:
${suites.map((s) => `  ${s.name.padEnd(10)} ${s.about}`).join("\n")}
`;

/** Every process this one started that is still running once the bench is done (a stopped suite's git, xz, servers). */
function killDescendants(): void {
  for (const p of processTree(process.pid).slice(1)) {
    try {
      process.kill(p.pid, "SIGKILL");
    } catch {
      /* already gone */
    }
  }
}

export async function run(argv: string[]): Promise<number> {
  const parsed = parseArgs({
      args: argv,
      options: {
        json: { type: "boolean", default: false },
        out: { type: "string" },
        quick: { type: "boolean", default: false },
        only: { type: "string" },
        project: { type: "string" },
        "kernel-build": { type: "boolean", default: false },
        full: { type: "boolean", default: false },
      },
      allowPositionals: false,
    });
  const o = parsed.values;
  const only = (o.only ?? "").split(",").map((s) => s.trim()).filter(Boolean);
  const unknown = only.filter((n) => !suites.some((s) => s.name === n));
  if (unknown.length) throw new CliError(`kbs bench: unknown suite(s) ${unknown.join(", ")}; suites are: ${suites.map((s) => s.name).join(", ")}`);
  const outFile = o.out ? path.resolve(o.out) : undefined;
  if (outFile && !fs.existsSync(path.dirname(outFile))) throw new CliError(`kbs bench: --out ${o.out}: directory ${path.dirname(outFile)} does not exist`);

  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), "kbs-bench-"));
  const log = (m: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${m}\n`);
  const stop = () => {
    killAllGroups();
    killDescendants();
    removeDir(workDir);
    process.exit(130);
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  try {
    const report = await runBench({ quick: o.quick, full: o.full, kernelBuild: o["kernel-build"], project: o.project, only, workDir, log });
    if (o.json) process.stdout.write(JSON.stringify(report, null, 2) + "\n");
    else process.stdout.write(textTable(report));
    if (outFile) {
      const base = outFile.replace(/\.json$/, "");
      fs.writeFileSync(outFile, JSON.stringify(report, null, 2) + "\n");
      fs.writeFileSync(`${base}.md`, markdownTable(report));
      fs.writeFileSync(`${base}.svg`, svgChart(report));
      log(`wrote ${outFile}, ${base}.md, ${base}.svg`);
    }
    return 0;
  } finally {
    // A suite stopped at its budget may have left timers or sockets behind: do not wait for them.
    setTimeout(() => process.exit(process.exitCode ?? 0), 1000).unref();
    killAllGroups();
    killDescendants();
    if (!removeDir(workDir)) log(`could not remove ${workDir} entirely (a stopped suite was still writing); remove it by hand`);
  }
}
