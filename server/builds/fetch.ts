import fs from "node:fs";
import path from "node:path";
import { GUEST_DL, GUEST_IN, GUEST_OUT } from "../core/guest-paths";
import type { Recipe } from "../core/recipe";
import type { RunRequest, RunResult } from "../sandbox/types";
import { shq } from "./script";
import type { Finish } from "./store";

/** Exit codes of fetch.sh kbs tells apart. */
const MISSING = 4;
const DOWNLOAD_FAILED = 5;
/** Where a networked fetch downloads to inside the sandbox (a view of the cache: its files as links, new ones as files). */
const WORK_DL = "/work/dl";

/**
 * The fetch stage (recipe `build.fetch`, Buildroot's `make source`), a sandbox run of its
 * own before the build: the tree's `list` command names the source files the config
 * needs, each must be in the download cache (data/dl/, bound read-only at /kbs/dl, flat
 * or in a per-package dir as Buildroot keeps it), and the tree's own `argv` checks them
 * (against Buildroot's .hash files). A missing file fails the build at step `fetch`,
 * naming the files and where to put them — unless the operator allowed the fetch stage
 * the network (KBS_FETCH_NETWORK=1): then `argv` downloads what is missing into a view of
 * the cache inside the sandbox, and the new files come back as the run's outputs, which
 * kbs adds to the cache. The build then reads the same cache, read-only, with no network,
 * and a retry finds everything there.
 */
export function fetchScript(recipe: Recipe, network: boolean, externals = ""): string {
  const f = recipe.build.fetch!;
  const cmd = (argv: string[], dl: string) => `${argv.map(shq).join(" ")} ${shq(`${f.dlVar}=${dl}`)}`;
  return `#!/bin/bash
set -uo pipefail
mkdir -p /work/src && cd /work/src || exit 1
tar -xf - || { echo "kbs: could not unpack the source tree" >&2; exit 1; }
exec </dev/null
${externals}
cp ${GUEST_IN}/config ${shq(recipe.configFile)} || exit 1
${recipe.build.olddefconfig.map(shq).join(" ")} >/dev/null || { echo "kbs: olddefconfig failed before the fetch" >&2; exit 1; }
${cmd(f.list, GUEST_DL)} > ${GUEST_OUT}/needed || { echo "kbs: listing the sources failed" >&2; exit 1; }
cached() { [ -f ${GUEST_DL}/"$1" ] && return 0; set -- ${GUEST_DL}/*/"$1"; [ -f "$1" ]; }
: > ${GUEST_OUT}/missing
while IFS= read -r name; do [ -z "$name" ] || cached "$name" || printf '%s\\n' "$name" >> ${GUEST_OUT}/missing; done < ${GUEST_OUT}/needed
if [ -s ${GUEST_OUT}/missing ]; then
${
  network
    ? `  mkdir -p ${WORK_DL} ${GUEST_OUT}/dl && cp -rs ${GUEST_DL}/. ${WORK_DL}/ || exit 1
  ${cmd(f.argv, WORK_DL)} || exit ${DOWNLOAD_FAILED}
  # Only what was downloaded (regular files; the cached ones are links) goes back to kbs.
  cd ${WORK_DL} && find . -type f -exec cp --parents -t ${GUEST_OUT}/dl/ {} + || exit 1
  exit 0`
    : `  exit ${MISSING}`
}
fi
${cmd(f.argv, GUEST_DL)}
`;
}

export interface FetchJob {
  recipe: Recipe;
  dlDir: string;
  inDir: string;
  outDir: string;
  /** The operator allowed the fetch stage the network (settings.sandboxes.allowNetwork). */
  network: boolean;
  /** Shell unpacking the project's external trees (externals.ts). */
  externals: string;
  run: Omit<RunRequest, "argv" | "binds" | "image">;
}

/** Run the fetch stage; undefined when every source is there (or was downloaded) and checks out, else the build's failure. */
export async function runFetch(ctx: { sandbox: { run(req: RunRequest): Promise<RunResult> } }, job: FetchJob): Promise<Finish | undefined> {
  fs.writeFileSync(path.join(job.inDir, "fetch.sh"), fetchScript(job.recipe, job.network, job.externals));
  // A networked fetch brings back whole source tarballs: the work dir's size caps them.
  const maxBytes = job.network ? (job.run.workSizeBytes ?? 4096 * 1024 * 1024) : 16 * 1024 * 1024;
  const r = await ctx.sandbox.run({
    ...job.run,
    image: job.recipe.build.image,
    argv: ["/bin/bash", `${GUEST_IN}/fetch.sh`],
    binds: [
      { host: job.inDir, guest: GUEST_IN },
      { host: job.dlDir, guest: GUEST_DL },
    ],
    ...(job.network ? { network: true } : {}),
    // The lists and the downloads come back as the sandbox's outputs, parsed strictly (sandbox/untrusted.ts).
    collect: { into: job.outDir, maxBytes, maxFiles: job.network ? 100_000 : 16 },
  });
  const why = () => r.stderr.toString("utf8").trim().split("\n").slice(-8).join("\n");
  if (r.code === 0) {
    if (!job.network) return undefined;
    if (!r.collected || "error" in r.collected) {
      return { state: "failed", failedStep: "fetch", errorSummary: `The fetch stage's downloads were refused: ${r.collected && "error" in r.collected ? r.collected.error : "none came back"}.` };
    }
    addToCache(path.join(job.outDir, "dl"), job.dlDir);
    return undefined;
  }
  const missing = readLines(path.join(job.outDir, "missing"));
  if (r.code === MISSING && missing.length) {
    return {
      state: "failed",
      failedStep: "fetch",
      errorSummary: `${missing.length} source file(s) are not in the download cache: ${missing.join(", ")}. The build has no network: put them in ${job.dlDir}/ (the names as listed; the tree's own hash files check them), or let an operator allow the fetch stage to download them (KBS_FETCH_NETWORK=1), then build again.`,
    };
  }
  if (r.timedOut) return { state: "timed_out", failedStep: "fetch", errorSummary: "The fetch stage passed the build's time limit." };
  if (r.code === DOWNLOAD_FAILED) {
    return { state: "failed", failedStep: "fetch", errorSummary: `Step 'fetch' could not download ${missing.length} missing source file(s) (${missing.join(", ")}); nothing was added to ${job.dlDir}/.\n${why()}` };
  }
  return { state: "failed", failedStep: "fetch", errorSummary: `Step 'fetch' failed (exit code ${r.code}): the sources in ${job.dlDir}/ did not check out.\n${why()}` };
}

/**
 * Move a networked fetch's downloads (kbs wrote them from the sandbox's tar: regular files
 * and dirs only) into the download cache, each by rename so a reader sees it whole; a file
 * the cache already has (another build fetched it meanwhile) is left as it is.
 */
function addToCache(fromDir: string, dlDir: string): void {
  const walk = (rel: string) => {
    for (const ent of fs.readdirSync(path.join(fromDir, rel), { withFileTypes: true })) {
      const r = path.join(rel, ent.name);
      if (ent.isDirectory()) walk(r);
      else if (ent.isFile() && !fs.existsSync(path.join(dlDir, r))) {
        fs.mkdirSync(path.dirname(path.join(dlDir, r)), { recursive: true, mode: 0o755 });
        fs.chmodSync(path.join(fromDir, r), 0o644);
        fs.renameSync(path.join(fromDir, r), path.join(dlDir, r));
      }
    }
  };
  if (fs.existsSync(fromDir)) walk("");
}

/** A small text file's non-empty lines (kbs wrote it from the sandbox's collected outputs: a regular file, capped). */
function readLines(file: string): string[] {
  const st = fs.lstatSync(file, { throwIfNoEntry: false });
  if (!st?.isFile()) return [];
  return fs.readFileSync(file, "utf8").split("\n").filter(Boolean).slice(0, 200);
}
