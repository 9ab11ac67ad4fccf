import { parseConfig } from "../configs/parse";
import type { Recipe } from "../core/recipe";
import { configArch, srcArch } from "./arch";
import { readBundleFile } from "./bundle-file";
import { formatPatch, unifiedDiff, type Author } from "./patch";
import { treeMake, type TreeMakeDeps } from "./tree-make";
import { invalid, notFound } from "../core/errors";

/**
 * The maintainer flow for defconfigs (the recipe's `defconfigs`): a saved config's minimal
 * form (the tree's own savedefconfig, in a sandbox) against the revision's defconfig file
 * (`arch/<arch>/configs/` for Linux, `configs/` for Buildroot), as a unified diff or as a
 * `git format-patch` patch replacing that file.
 */
export interface DefconfigDeps extends TreeMakeDeps {
  projects: { require(id: string): { recipe: Recipe } };
  configs: { require(id: string): { id: string; project: string; commit: string; describe: string; kconfigHash: string; text: string } };
}

const configIdPattern = /^[0-9a-f]{64}$/;
const defconfigName = /^[A-Za-z0-9][A-Za-z0-9_.+-]{0,99}$/;

/** The recipe's defconfig dir for a variant: `arch/{srcarch}/configs` -> arch/x86/configs. */
export function defconfigDir(recipe: Recipe, arch?: string): string {
  const dir = recipe.defconfigs?.dir ?? "";
  return arch ? dir.replaceAll("{srcarch}", srcArch(recipe, arch)) : dir;
}

/** `x86_64` -> <dir>/x86_64_defconfig; `defconfig` (or any `*_defconfig`) as is. */
export function defconfigPath(recipe: Recipe, arch: string | undefined, name: string): string {
  if (!defconfigName.test(name)) {
    throw invalid("bad_defconfig_name", `'${name.slice(0, 40)}' is not a defconfig name: use letters, digits, _ . + - (e.g. x86_64 or defconfig).`);
  }
  const file = name === "defconfig" || name.endsWith("_defconfig") ? name : `${name}_defconfig`;
  return `${defconfigDir(recipe, arch)}/${file}`;
}

export interface MinimalForm {
  recipe: Recipe;
  config: { id: string; project: string; commit: string; describe: string; kconfigHash: string };
  arch?: string;
  text: string;
}

export class KernelDefconfigs {
  constructor(private readonly deps: DefconfigDeps) {}

  /** The config's savedefconfig form (the tree's own conf), for the variant it was made for (or the one asked). */
  async minimal(configId: string, arch?: string): Promise<MinimalForm> {
    const config = this.deps.configs.require(configId);
    const { recipe } = this.deps.projects.require(config.project);
    if (!recipe.defconfigs) {
      throw invalid("no_defconfigs", `Project '${config.project}' (recipe ${recipe.id}) keeps no defconfig files; there is nothing to diff or patch against.`);
    }
    if (arch && !recipe.arches.length) throw invalid("bad_arch", `Recipe '${recipe.id}' has no variants; leave arch out.`);
    const a = recipe.arches.length ? configArch(recipe, parseConfig(config.text, recipe.symbolPrefix).entries, arch) : undefined;
    const { savedefconfig, output } = recipe.defconfigs;
    const text = await treeMake(this.deps, { recipe, project: config.project, describe: config.describe, kconfigHash: config.kconfigHash, arch: a, argv: savedefconfig, config: config.text, output });
    return { recipe, config, ...(a ? { arch: a } : {}), text };
  }

  /** The text of arch/<arch>/configs/<name>_defconfig at the config's revision (404 lists what there is). */
  async defconfigText(form: MinimalForm, name: string): Promise<{ file: string; text: string }> {
    const file = defconfigPath(form.recipe, form.arch, name);
    const text = await readBundleFile(await this.deps.bundles.ensure(form.config.kconfigHash), file);
    if (text === undefined) {
      throw notFound("unknown_defconfig", `${form.config.project} ${form.config.describe} has no ${file}${form.arch ? ` (ARCH=${form.arch}); pass ?arch= for another architecture or another name` : "; check the name"}.`);
    }
    return { file, text };
  }

  /** Unified diff from `against` (a defconfig name, or another config id's minimal form) to this config's minimal form. */
  async diff(configId: string, against: string, arch?: string): Promise<string> {
    const form = await this.minimal(configId, arch);
    if (configIdPattern.test(against)) {
      const other = await this.minimal(against, arch ?? form.arch);
      return unifiedDiff(other.text, form.text, `a/config-${against.slice(0, 12)}`, `b/config-${configId.slice(0, 12)}`);
    }
    const base = await this.defconfigText(form, against);
    return unifiedDiff(base.text, form.text, `a/${base.file}`, `b/${base.file}`);
  }

  /** A `git format-patch` patch replacing <defconfig dir>/<name>_defconfig with this config's minimal form ("" when equal). */
  async patch(configId: string, name: string, opts: { arch?: string; author?: Author } = {}): Promise<{ file: string; patch: string }> {
    const form = await this.minimal(configId, opts.arch);
    const base = await this.defconfigText(form, name);
    const c = form.config;
    const file = base.file.split("/").pop()!;
    const subject = form.recipe.defconfigs!.patchSubject.replaceAll("{srcarch}", form.arch ? srcArch(form.recipe, form.arch) : "").replaceAll("{file}", file);
    const patch = await formatPatch({
      file: base.file,
      oldText: base.text,
      newText: form.text,
      subject,
      body: [
        `Regenerate ${base.file} with ${form.recipe.defconfigs!.savedefconfig.join(" ")}${form.arch ? ` (ARCH=${form.arch})` : ""}`,
        `from kbs config ${c.id}`,
        `(${c.project} ${c.describe}, commit ${c.commit}).`,
      ].join("\n"),
      author: opts.author,
    });
    return { file: base.file, patch };
  }
}
