import type { Recipe } from "../core/recipe";
import { kconfigEnv } from "../configs/kconfig-env";
import { invalid } from "../core/errors";

/**
 * Linux architectures: which of the recipe's ARCH values a tree has (an
 * `arch/<SRCARCH>/Kconfig` in its kconfig bundle), and which one a .config was
 * made for (every arch's Kconfig sets its own `CONFIG_<SRCARCH>=y`, x86 splits
 * into X86_64 / X86_32).
 */
/** The arch/<dir> of an ARCH value (x86_64 -> x86), as every Kconfig run on the recipe sees it. */
export const srcArch = (recipe: Recipe, arch: string): string => kconfigEnv(recipe, arch).SRCARCH ?? arch;

export function archesInTree(recipe: Recipe, files: Set<string>): string[] {
  return recipe.arches.filter((a) => files.has(`arch/${srcArch(recipe, a)}/Kconfig`));
}

/** The marker symbols of an ARCH in a .config; all must be y. */
function markers(recipe: Recipe, arch: string): string[] {
  if (arch === "x86_64") return ["X86", "X86_64"];
  if (arch === "i386") return ["X86", "X86_32"];
  return [srcArch(recipe, arch).toUpperCase()];
}

/** The ARCH a config was made for, from its symbols; `asked` wins when given (and is checked). */
export function configArch(recipe: Recipe, entries: Map<string, string>, asked?: string): string {
  if (asked) {
    if (!recipe.arches.includes(asked)) {
      throw invalid("bad_arch", `Unknown architecture '${asked.slice(0, 40)}'; choose one of: ${recipe.arches.join(", ")}.`);
    }
    return asked;
  }
  const found = recipe.arches.find((a) => markers(recipe, a).every((s) => entries.get(s) === "y"));
  return found ?? recipe.arches[0] ?? "x86_64";
}
