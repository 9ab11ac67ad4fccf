import type { Recipe } from "../core/recipe";
import { invalid } from "../core/errors";

/** Linux's ARCH -> SRCARCH (the arch/<dir> name) where they differ. */
const SRCARCH: Record<string, string> = { x86_64: "x86", i386: "x86", sparc64: "sparc", sh64: "sh", parisc64: "parisc" };

/** The architecture for a run on a recipe: the one asked for (checked), else the recipe's first; none for recipes without arches. */
export function chooseArch(recipe: Recipe, arch?: string): string | undefined {
  if (!recipe.arches.length) {
    if (arch) throw invalid("bad_arch", `Recipe '${recipe.id}' has no architecture choice; leave arch out.`);
    return undefined;
  }
  if (arch && !recipe.arches.includes(arch)) {
    throw invalid("bad_arch", `Unknown architecture '${arch.slice(0, 40)}' for recipe '${recipe.id}'; choose one of: ${recipe.arches.join(", ")}.`);
  }
  return arch ?? recipe.arches[0];
}

/** Environment for every Kconfig run on a tree at /work: the recipe's kconfigEnv, plus ARCH/SRCARCH when it has arches. */
export function kconfigEnv(recipe: Recipe, arch?: string): Record<string, string> {
  // CONFIG_ is the prefix Kconfiglib and the kconfig tools write before symbol names.
  const env: Record<string, string> = { srctree: "/work", CONFIG_: recipe.symbolPrefix, ...recipe.kconfigEnv };
  const a = chooseArch(recipe, arch);
  if (a) {
    env.ARCH = a;
    env.SRCARCH = SRCARCH[a] ?? a;
  }
  return env;
}
