import { HttpError } from "../http/errors";
import type { Recipe } from "../projects/recipe";
import { archesInTree, srcArch } from "./arch";
import { bundleFiles } from "../configs/bundle-files";
import { treeMake, type TreeMakeDeps } from "./tree-make";

/**
 * Starting points for a kernel config: the tree's own `make <target>` (defconfig,
 * tinyconfig, or a named *_defconfig) for an ARCH, run in a sandbox on the
 * revision's kconfig bundle — the tree's Makefile builds its own conf and runs its
 * own merge_config.sh, so the result is what `make ARCH=... defconfig` gives on
 * the full tree. The resulting .config is stored like any saved config.
 */
export interface StartDeps extends TreeMakeDeps {
  projects: { require(id: string): { id: string; recipe: Recipe } };
  revdb: { resolve(project: string, rev: string): { sha: string; describe: string; kconfigHash: string } };
  configs: { put(input: { project: string; commit: string; rev: string; text: string; written?: boolean }): { id: string; created: boolean } };
}

const targetPattern = /^(defconfig|tinyconfig|[A-Za-z0-9][A-Za-z0-9_.+-]{0,80}_defconfig)$/;

export async function kernelArches(deps: Pick<StartDeps, "projects" | "revdb" | "bundles">, project: string, rev: string): Promise<string[]> {
  const { recipe } = deps.projects.require(project);
  const revision = deps.revdb.resolve(project, rev);
  return archesInTree(recipe, await bundleFiles(deps.bundles.path(revision.kconfigHash)));
}

export async function startConfig(
  deps: StartDeps,
  req: { project: string; rev: string; arch?: string; start: string },
): Promise<{ id: string; created: boolean; arch: string }> {
  const { recipe } = deps.projects.require(req.project);
  if (!recipe.arches.length) {
    throw new HttpError(400, "not_a_kernel", `Project '${req.project}' (recipe ${recipe.id}) has no ARCH choice; start it from an empty or uploaded config instead.`);
  }
  if (!targetPattern.test(req.start)) {
    throw new HttpError(400, "bad_start", `'${req.start.slice(0, 40)}' is not a starting point: use defconfig, tinyconfig or a <name>_defconfig of the tree.`);
  }
  const revision = deps.revdb.resolve(req.project, req.rev);
  const bundle = deps.bundles.path(revision.kconfigHash);
  const files = await bundleFiles(bundle);
  const arches = archesInTree(recipe, files);
  const arch = req.arch ?? arches[0] ?? recipe.arches[0]!;
  if (!arches.includes(arch)) {
    throw new HttpError(400, "bad_arch", `${req.project} ${revision.describe} has no arch/${srcArch(recipe, arch)}; its architectures: ${arches.join(", ") || "none"}.`);
  }
  if (req.start.endsWith("_defconfig") && !files.has(`arch/${srcArch(recipe, arch)}/configs/${req.start}`)) {
    const have = [...files].filter((f) => f.startsWith(`arch/${srcArch(recipe, arch)}/configs/`)).map((f) => f.split("/").pop());
    throw new HttpError(404, "unknown_defconfig", `${req.project} ${revision.describe} has no arch/${srcArch(recipe, arch)}/configs/${req.start}; it has: ${have.join(", ") || "none"}.`);
  }
  const text = await treeMake(deps, { recipe, project: req.project, describe: revision.describe, kconfigHash: revision.kconfigHash, arch, target: req.start, output: ".config" });
  const out = deps.configs.put({ project: req.project, commit: revision.sha, rev: req.rev, text, written: true });
  return { ...out, arch };
}
