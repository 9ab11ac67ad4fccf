import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { setTimeout as sleep } from "node:timers/promises";
import { CliError, UsageError } from "./exit";
import { createKbs } from "../kbs";
import { killAllGroups } from "../core/proc";
import { loadSettings } from "../core/settings";
import { isFinal } from "../builds/types";

/**
 * `kbs build <project> <rev> --config FILE [--json] [--out DIR] [--verify]`: the same queue as the
 * portal. --verify then rebuilds the same key without ccache on a fresh work tree and compares
 * every artifact (exit 1 when one differs). Embedded (default): workers run in this process. With KBS_REDIS_URL the build
 * is queued for `kbs worker` processes and this waits for it. The log streams to stderr;
 * --json prints the build record on stdout; --out copies the artifacts into DIR.
 */
export const usage = "usage: kbs build <project> <rev> --config FILE [--json] [--out DIR] [--quiet] [--verify]";

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { config: { type: "string" }, json: { type: "boolean" }, out: { type: "string" }, quiet: { type: "boolean" }, verify: { type: "boolean" } },
  });
  const [projectId, rev] = positionals;
  if (!projectId || !rev || !values.config || positionals.length > 2) {
    throw new UsageError(!projectId || !rev ? "give a project and a revision" : !values.config ? "--config FILE is required" : "too many arguments");
  }
  let text: string;
  try {
    text = fs.readFileSync(values.config, "utf8");
  } catch (e) {
    throw new CliError(`kbs build: cannot read the config file ${values.config}: ${(e as Error).message}`);
  }
  const kbs = await createKbs(loadSettings());
  const say = (s: string) => process.stderr.write(`${s}\n`);
  try {
    const revision = kbs.revdb.resolve(kbs.projects.require(projectId).id, rev);
    const { id: configId } = kbs.configs.put({ project: projectId, commit: revision.sha, text });
    if (kbs.builds.queue.engine === "embedded") await kbs.builds.startWorkers();
    const { build, outcome } = await kbs.builds.request({ project: projectId, rev, configId, client: "cli" });
    say(`build ${build.id}: ${outcome === "cached" ? "already built (cache hit)" : outcome === "joined" ? "joined an identical build" : "queued"}`);

    let lastPos: number | null = null;
    while (kbs.builds.get(build.id)!.state === "queued") {
      const v = kbs.builds.view(kbs.builds.get(build.id)!);
      if (v.queuePosition !== lastPos) say(`queued: position ${v.queuePosition}${v.eta !== null ? `, about ${v.eta} s` : ""}`);
      lastPos = v.queuePosition;
      await sleep(500);
    }
    for await (const chunk of kbs.builds.followLog(build.id)) if (!values.quiet && outcome !== "cached") process.stderr.write(chunk);
    while (!isFinal(kbs.builds.get(build.id)!.state)) await sleep(200);

    let done = kbs.builds.get(build.id)!;
    let reproducible = true;
    if (values.verify && done.state === "succeeded") {
      const { started } = kbs.builds.verify(done.id);
      say(started ? `verify: rebuilding ${done.id} on a fresh work tree without ccache` : `verify: joined the verification of ${done.id} already running`);
      while (kbs.builds.get(done.id)!.verification?.state === "running") await sleep(250);
      done = kbs.builds.get(done.id)!;
      const v = done.verification!;
      reproducible = v.reproducible === true;
      if (v.state === "failed") say(`verify: ${v.error}`);
      else if (v.reproducible) say(`verify: reproducible: every artifact is byte-identical in the rebuild`);
      else for (const d of v.differences) say(`verify: NOT reproducible: ${d.name} differs${d.offset !== null ? ` from byte ${d.offset}` : ""}`);
    }
    const view = kbs.builds.view(done, outcome === "cached");
    if (values.out && done.state === "succeeded") {
      fs.mkdirSync(values.out, { recursive: true });
      for (const a of done.artifacts) {
        const { file } = kbs.builds.artifact(done, a.name);
        fs.copyFileSync(file, path.join(values.out, a.name));
      }
      say(`artifacts written to ${path.resolve(values.out)}: ${done.artifacts.map((a) => a.name).join(", ")}`);
    }
    if (values.json) process.stdout.write(JSON.stringify(view, null, 2) + "\n");
    say(done.state === "succeeded" ? `build ${done.id} succeeded` : `build ${done.id} ${done.state}${done.failedStep ? ` at step '${done.failedStep}'` : ""}: ${done.errorSummary ?? ""}`);
    return done.state === "succeeded" && reproducible ? 0 : 1;
  } finally {
    await kbs.close();
    killAllGroups();
  }
}
