import path from "node:path";
import { kconfigEnv } from "../configs/kconfig-env";
import { linkOrCopy } from "../configs/kconfig-tools";
import { HttpError } from "../http/errors";
import type { Recipe } from "../core/recipe";
import { Staging } from "../sandbox/staging";
import { shq } from "../builds/script";
import type { RunRequest, RunResult } from "../sandbox/types";

/**
 * A tree's own `make <target>` (with ARCH=<arch> for recipes with arches), in a sandbox on
 * the revision's kconfig bundle: the tree builds its own kconfig tools and runs its own
 * scripts (merge_config.sh, the Kconfig preprocessor's compiler probes, Buildroot's
 * br2-external), so the result is what the same make gives on the full tree. Used for the
 * starting points (defconfig, tinyconfig, <name>_defconfig) and the minimal form (the
 * recipe's `defconfigs.savedefconfig`).
 */
export interface TreeMakeDeps {
  settings: { stagingDir: string };
  bundles: { path(kconfigHash: string): string };
  sandbox: { run(req: RunRequest): Promise<RunResult> };
}

export async function treeMake(
  deps: TreeMakeDeps,
  job: { recipe: Recipe; project: string; describe: string; kconfigHash: string; arch?: string; argv: string[]; config?: string; output: string },
): Promise<string> {
  const bundle = deps.bundles.path(job.kconfigHash);
  // The bundle goes in as a dir of its own, readable by the sandbox's uid (as the Kconfig tools do).
  const staged = new Staging(deps.settings.stagingDir).make();
  const inDir = staged.dir;
  const script = [
    "tar -xf /kbs/in/bundle.tar",
    job.config !== undefined ? `cat > ${shq(job.recipe.configFile)}` : ":",
    `${job.argv.map(shq).join(" ")} >&2`,
    `cat ${shq(job.output)}`,
  ].join(" && ");
  let r: RunResult;
  try {
    linkOrCopy(bundle, path.join(inDir, "bundle.tar"));
    r = await deps.sandbox.run({
      // The recipe's image for `make` on the kconfig tree: the tree's host tools (gcc, make, flex, bison) build its conf.
      image: job.recipe.images.make,
      binds: [{ host: inDir, guest: "/kbs/in" }],
      argv: ["/bin/sh", "-c", script],
      cwd: "/work",
      env: kconfigEnv(job.recipe, job.arch),
      stdin: job.config,
      timeoutMs: 300_000,
    });
  } finally {
    staged.remove();
  }
  if (r.code !== 0) {
    const why = r.timedOut ? "it took too long" : r.stderr.toString("utf8").trim().split("\n").slice(-6).join(" | ") || `exit code ${r.code}`;
    throw new HttpError(422, "kconfig_failed", `${job.argv.join(" ")}${job.arch ? ` (ARCH=${job.arch})` : ""} on ${job.project} ${job.describe} failed: ${why.slice(0, 800)}`);
  }
  return r.stdout.toString("utf8");
}
