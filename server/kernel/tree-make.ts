import { kconfigEnv } from "../configs/kconfig-env";
import { GUEST_IN } from "../core/guest-paths";
import type { Recipe } from "../core/recipe";
import { runStaged, type StageDeps } from "../sandbox/stage";
import { shq } from "../builds/script";

/**
 * A tree's own `make <target>` (with ARCH=<arch> for recipes with arches), in a sandbox on
 * the revision's kconfig bundle: the tree builds its own kconfig tools and runs its own
 * scripts (merge_config.sh, the Kconfig preprocessor's compiler probes, Buildroot's
 * br2-external), so the result is what the same make gives on the full tree. Used for the
 * starting points (defconfig, tinyconfig, <name>_defconfig) and the minimal form (the
 * recipe's `defconfigs.savedefconfig`).
 */
export interface TreeMakeDeps extends StageDeps {
  bundles: { ensure(kconfigHash: string): Promise<string> };
}

export async function treeMake(
  deps: TreeMakeDeps,
  job: { recipe: Recipe; project: string; describe: string; kconfigHash: string; arch?: string; argv: string[]; config?: string; output: string },
): Promise<string> {
  const script = [
    `tar -xf ${GUEST_IN}/bundle.tar`,
    job.config !== undefined ? `cat > ${shq(job.recipe.configFile)}` : ":",
    `${job.argv.map(shq).join(" ")} >&2`,
    `cat ${shq(job.output)}`,
  ].join(" && ");
  const r = await runStaged(deps, {
    // The recipe's image for `make` on the kconfig tree: the tree's host tools (gcc, make, flex, bison) build its conf.
    image: job.recipe.images.make,
    // The bundle goes in as a dir of its own, readable by the sandbox's uid (as the Kconfig tools do).
    inputs: { "bundle.tar": { link: await deps.bundles.ensure(job.kconfigHash) } },
    argv: ["/bin/sh", "-c", script],
    cwd: "/work",
    env: kconfigEnv(job.recipe, job.arch),
    stdin: job.config,
    timeoutMs: 300_000,
    failure: { code: "kconfig_failed", what: `${job.argv.join(" ")}${job.arch ? ` (ARCH=${job.arch})` : ""} on ${job.project} ${job.describe}`, lines: 6 },
  });
  return r.stdout.toString("utf8");
}
