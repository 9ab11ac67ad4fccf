import type { Recipe } from "../core/recipe";
import { archesInTree, srcArch } from "./arch";
import { bundleFiles } from "../configs/bundle-files";
import { defconfigDir } from "./defconfig";
import { treeMake, type TreeMakeDeps } from "./tree-make";
import { invalid, notFound } from "../core/errors";

/**
 * Starting points for a config from the recipe's `defconfigs`: the tree's own
 * `make <target>` (a recipe target such as defconfig or tinyconfig, or any
 * `<name>_defconfig` in the recipe's defconfig dir), for a variant (ARCH) when the
 * recipe has them, run in a sandbox on the revision's kconfig bundle — the tree's
 * Makefile builds its own conf, so the result is what the same make gives on the
 * full tree. The resulting config is stored like any saved config.
 */
export interface StartDeps extends TreeMakeDeps {
  projects: { require(id: string): { id: string; recipe: Recipe } };
  revdb: { resolve(project: string, rev: string): { sha: string; describe: string; kconfigHash: string } };
  configs: { put(input: { project: string; commit: string; rev: string; text: string; written?: boolean }): { id: string; created: boolean } };
}

const defconfigTarget = /^[A-Za-z0-9][A-Za-z0-9_.+-]{0,80}_defconfig$/;

export async function kernelArches(deps: Pick<StartDeps, "projects" | "revdb" | "bundles">, project: string, rev: string): Promise<string[]> {
  const { recipe } = deps.projects.require(project);
  const revision = deps.revdb.resolve(project, rev);
  return archesInTree(recipe, await bundleFiles(await deps.bundles.ensure(revision.kconfigHash)));
}

export async function startConfig(
  deps: StartDeps,
  req: { project: string; rev: string; arch?: string; start: string },
): Promise<{ id: string; created: boolean; arch?: string }> {
  const { recipe } = deps.projects.require(req.project);
  const defconfigs = recipe.defconfigs;
  if (!defconfigs) {
    throw invalid("no_defconfigs", `Project '${req.project}' (recipe ${recipe.id}) has no defconfig start points; start it from an empty or uploaded config instead.`);
  }
  if (!defconfigs.targets.includes(req.start) && !defconfigTarget.test(req.start)) {
    const targets = [...defconfigs.targets, "<name>_defconfig"].join(", ");
    throw invalid("bad_start", `'${req.start.slice(0, 40)}' is not a starting point: use ${targets} (a file in ${defconfigs.dir}).`);
  }
  if (req.arch && !recipe.arches.length) throw invalid("bad_arch", `Recipe '${recipe.id}' has no variants; leave variant/arch out.`);
  const revision = deps.revdb.resolve(req.project, req.rev);
  const bundle = await deps.bundles.ensure(revision.kconfigHash);
  const files = await bundleFiles(bundle);
  let arch: string | undefined;
  if (recipe.arches.length) {
    const arches = archesInTree(recipe, files);
    arch = req.arch ?? arches[0] ?? recipe.arches[0]!;
    if (!arches.includes(arch)) {
      throw invalid("bad_arch", `${req.project} ${revision.describe} has no arch/${srcArch(recipe, arch)}; its architectures: ${arches.join(", ") || "none"}.`);
    }
  }
  if (!defconfigs.targets.includes(req.start)) {
    const dir = defconfigDir(recipe, arch);
    if (!files.has(`${dir}/${req.start}`)) {
      const have = [...files].filter((f) => f.startsWith(`${dir}/`) && f.endsWith("_defconfig")).map((f) => f.slice(dir.length + 1));
      throw notFound("unknown_defconfig", `${req.project} ${revision.describe} has no ${dir}/${req.start}; it has: ${have.slice(0, 50).join(", ") || "none"}${have.length > 50 ? `, … (${have.length} in all)` : ""}.`);
    }
  }
  const text = await treeMake(deps, { recipe, project: req.project, describe: revision.describe, kconfigHash: revision.kconfigHash, arch, argv: ["make", "-s", req.start], output: recipe.configFile });
  const out = deps.configs.put({ project: req.project, commit: revision.sha, rev: req.rev, text, written: true });
  return { ...out, ...(arch ? { arch } : {}) };
}
