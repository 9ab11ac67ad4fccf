import fs from "node:fs";
import path from "node:path";
import { GUEST_DL, GUEST_IN, GUEST_OUT } from "../core/guest-paths";
import type { Recipe } from "../core/recipe";
import type { RunRequest, RunResult } from "../sandbox/types";
import { shq } from "./script";
import type { Finish } from "./store";

/**
 * The fetch stage (recipe `build.fetch`, Buildroot's `make source`), a sandbox run of its
 * own before the build: the tree's `list` command names the source files the config
 * needs, each must be in the download cache (data/dl/, bound read-only at /kbs/dl), and
 * the tree's own `argv` checks them (against Buildroot's .hash files). Nothing here has
 * network: a missing file fails the build at step `fetch`, naming the files and where to
 * put them. The build then reads the same cache, read-only, with no network.
 */
export function fetchScript(recipe: Recipe): string {
  const f = recipe.build.fetch!;
  const dl = `${f.dlVar}=${GUEST_DL}`;
  return `#!/bin/bash
set -uo pipefail
mkdir -p /work/src && cd /work/src || exit 1
tar -xf - || { echo "kbs: could not unpack the source tree" >&2; exit 1; }
exec </dev/null
cp ${GUEST_IN}/config ${shq(recipe.configFile)} || exit 1
${recipe.build.olddefconfig.map(shq).join(" ")} >/dev/null || { echo "kbs: olddefconfig failed before the fetch" >&2; exit 1; }
${f.list.map(shq).join(" ")} ${shq(dl)} > ${GUEST_OUT}/needed || { echo "kbs: listing the sources failed" >&2; exit 1; }
: > ${GUEST_OUT}/missing
while IFS= read -r name; do [ -z "$name" ] || [ -f ${GUEST_DL}/"$name" ] || printf '%s\\n' "$name" >> ${GUEST_OUT}/missing; done < ${GUEST_OUT}/needed
[ -s ${GUEST_OUT}/missing ] && exit 4
${f.argv.map(shq).join(" ")} ${shq(dl)}
`;
}

/** Run the fetch stage; undefined when every source is there and checks out, else the build's failure. */
export async function runFetch(
  ctx: { sandbox: { run(req: RunRequest): Promise<RunResult> }; dataDir: string },
  job: { recipe: Recipe; dlDir: string; inDir: string; outDir: string; run: Omit<RunRequest, "argv" | "binds" | "image"> },
): Promise<Finish | undefined> {
  fs.writeFileSync(path.join(job.inDir, "fetch.sh"), fetchScript(job.recipe));
  const r = await ctx.sandbox.run({
    ...job.run,
    image: job.recipe.build.image,
    argv: ["/bin/bash", `${GUEST_IN}/fetch.sh`],
    binds: [
      { host: job.inDir, guest: GUEST_IN },
      { host: job.dlDir, guest: GUEST_DL },
    ],
    // The lists come back as the sandbox's outputs, parsed strictly (sandbox/untrusted.ts).
    collect: { into: job.outDir, maxBytes: 16 * 1024 * 1024, maxFiles: 16 },
  });
  if (r.code === 0) return undefined;
  const missing = readLines(path.join(job.outDir, "missing"));
  if (missing.length) {
    return {
      state: "failed",
      failedStep: "fetch",
      errorSummary: `${missing.length} source file(s) are not in the download cache: ${missing.join(", ")}. The build has no network: put them in ${job.dlDir}/ (the names as listed; the tree's own hash files check them), then build again.`,
    };
  }
  if (r.timedOut) return { state: "timed_out", failedStep: "fetch", errorSummary: "The fetch stage passed the build's time limit." };
  const why = r.stderr.toString("utf8").trim().split("\n").slice(-8).join("\n");
  return { state: "failed", failedStep: "fetch", errorSummary: `Step 'fetch' failed (exit code ${r.code}): the sources in ${job.dlDir}/ did not check out.\n${why}` };
}

/** A small text file's non-empty lines (kbs wrote it from the sandbox's collected outputs: a regular file, capped). */
function readLines(file: string): string[] {
  const st = fs.lstatSync(file, { throwIfNoEntry: false });
  if (!st?.isFile()) return [];
  return fs.readFileSync(file, "utf8").split("\n").filter(Boolean).slice(0, 200);
}
