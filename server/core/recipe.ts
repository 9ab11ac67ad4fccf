import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";

/**
 * A recipe is data (server/projects/recipes/<id>.json), like TuxMake's target .ini files:
 * which paths make the kconfig-only tree, how menuconfig runs on it, and how to build.
 * Adding a kind of project means adding a recipe, not code. Every field is documented,
 * with an example, in docs/recipes.md; an unknown field or a wrong type stops start-up.
 */
/** A plain relative path inside a tree: no leading '/', no '.' or '..' segments. */
const TreePath = z
  .string()
  .regex(/^[A-Za-z0-9_.+-]+(\/[A-Za-z0-9_.+-]+)*$/, "a plain relative path (letters, digits, _ . + -)")
  .refine((p) => !p.split("/").some((seg) => seg === "." || seg === ".."), "a plain relative path, without . or ..");
const Argv = z.array(z.string().min(1)).min(1);
const EnvName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "an environment variable name");

export const BuildStepSchema = z.strictObject({
  name: z.string().min(1),
  /** argv run in the build sandbox at the tree root; `{jobs}` is replaced by the worker's -j count. */
  argv: z.array(z.string()).min(1),
});

/** A previous build's artifact handed to a build, chosen by a config symbol whose value is a build id. */
export const BuildInputSchema = z.strictObject({
  /** The Kconfig string symbol (without CONFIG_) that names the build; unset or empty means no input. */
  symbol: z.string().regex(/^[A-Za-z0-9_]+$/),
  /** The artifact of that build to hand in. */
  artifact: z.string().min(1),
  /** Where it appears under /kbs/in (read-only; $KBS_IN in build steps). */
  path: z
    .string()
    .regex(/^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/)
    .refine((p) => !p.split("/").some((s) => s === "." || s === "..") && !["config", "build.sh"].includes(p.split("/")[0]!), "a plain relative path, not config or build.sh"),
  /** Builds of this recipe only (e.g. linux). */
  recipe: z.string().optional(),
  /** Builds of this project only. */
  project: z.string().optional(),
});

/** Manifest fields a recipe may not take over with `manifestFields`. */
const coreManifestFields = ["schema", "build", "project", "rev", "commit", "describe", "configId", "recipe", "image", "toolchain", "jobs", "startedAt", "finishedAt", "durationMs", "artifacts", "inputs", "pinned", "timings"];

/** Board presets (Klipper's config/*.cfg): which files are board files and how their headers are read. */
export const PresetsSchema = z.object({
  /** Globs of the board files, relative to the tree root. */
  boardFiles: z.array(z.string().min(1)).min(1),
  /** The header parser in server/presets/presets_helper.py. */
  parser: z.enum(["klipper-header"]),
  /** The prompt of the Kconfig choice(s) whose options are micro-controllers ("Processor model"). */
  mcuChoice: z.string().min(1),
});

/**
 * How a build's output reaches the board, by architecture and config: the first rule whose
 * `when` conditions all hold is shown on the build page. `{SYMBOL}` in text and commands is
 * the config's value of CONFIG_SYMBOL (strings unquoted).
 */
export const FlashRuleSchema = z.object({
  /** "SYMBOL=value" or "SYMBOL!=value" (value y, n, a number or a string), all of which must hold. */
  when: z.array(z.string().regex(/^[A-Za-z0-9_]+!?=.*$/)).default([]),
  /** The artifact to flash (a name from build.artifacts' basenames). */
  artifact: z.string().min(1),
  /** The file name the board expects, when it expects one (an SD-card bootloader's firmware.bin). */
  saveAs: z.string().regex(/^[A-Za-z0-9_.-]{1,100}$/).optional(),
  text: z.array(z.string()).min(1),
  commands: z.array(z.string()).default([]),
});

/** A compiler a config needs when it sets `symbol` (TuxMake's toolchain rules); checked before the build compiles anything. */
export const ToolchainRuleSchema = z.strictObject({
  /** The bool symbol (without the prefix) whose `=y` means this compiler. */
  symbol: z.string().regex(/^[A-Za-z0-9_]+$/),
  compiler: z.string().regex(/^[A-Za-z0-9_.+-]+$/),
  /** What the symbol builds for, in the failure message. */
  what: z.string().min(1),
  /** false: Debian does not package the compiler, so the build fails at step `toolchain` saying so. */
  packaged: z.boolean().default(true),
});

/** A fetch stage before the build (Buildroot's `make source`): sources come from the download cache, data/dl/. */
export const FetchSchema = z.strictObject({
  /** Prints the source file names the config needs, one per line (Buildroot: make external-deps). */
  list: Argv,
  /** Checks (and, where it may, fetches) them into the download dir (Buildroot: make source, against its .hash files). */
  argv: Argv,
  /** The variable naming the download dir, passed to `list`, `argv` and the build's steps as `<dlVar>=/kbs/dl`. */
  dlVar: EnvName,
});

/** Defconfig start points and the maintainer's minimal form (DESIGN.md "Who uses it": maintainers). */
export const DefconfigsSchema = z.strictObject({
  /** Where the tree keeps `<name>_defconfig` files; `{srcarch}` is the variant's arch/<dir>. */
  dir: z.string().regex(/^[A-Za-z0-9_.{}+-]+(\/[A-Za-z0-9_.{}+-]+)*$/),
  /** Make targets besides `<name>_defconfig` a config may start from (defconfig, tinyconfig). */
  targets: z.array(z.string().regex(/^[A-Za-z0-9_.+-]+$/)).default([]),
  /** The tree's command for the minimal form, run at the root after the config is written to its configFile. */
  savedefconfig: Argv.default(["make", "-s", "savedefconfig"]),
  /** The file savedefconfig writes, relative to the root. */
  output: TreePath.default("defconfig"),
  /** The subject of the `git am` patch; `{srcarch}` and `{file}` (the defconfig's file name) are filled in. */
  patchSubject: z.string().min(1).default("{srcarch}: configs: update {file}"),
});

/** The tree's own kconfig tools (mconf frontend): where their sources are and where its Makefile builds them. */
export const KconfigToolsSchema = z.strictObject({
  /** The dir of their sources; a kconfig tree with `<sources>/Makefile` and a top Makefile has its own tools. */
  sources: TreePath.default("scripts/kconfig"),
  /** Where `make menuconfig` / `make olddefconfig` leave `mconf` and `conf`. */
  dir: TreePath.default("scripts/kconfig"),
  /**
   * Every Kconfig run (menuconfig, olddefconfig, savedefconfig, defconfig starts) goes
   * through the tree's Makefile, which sets the tools' environment itself (Buildroot:
   * BR2_VERSION, the br2-external files); the config path is passed as `<configVar>=<path>`.
   */
  viaMake: z.boolean().default(false),
});

/**
 * External trees a project may add to the tree (Buildroot's BR2_EXTERNAL): each is another
 * git repository at a revision of its own, kept in the kconfig tree under
 * `external/<name>/` and handed to every Kconfig run and build as `<var>=<dir>[<separator><dir>]`.
 */
export const ExternalsSchema = z.strictObject({
  /** The make variable (read from the environment) that names the external trees' dirs. */
  var: EnvName,
  separator: z.string().min(1).default(":"),
  /** A file every external tree has at its root (Buildroot: external.desc); a tree without it is refused when added. */
  marker: TreePath,
  /** Globs, within an external tree, of its files the kconfig tree keeps (its Config.in files, configs/, the marker). */
  kconfigPaths: z.array(z.string().min(1)).min(1),
});

/** The sandbox images (sandbox-images/<name>) each kind of job runs in. */
export const ImagesSchema = z.strictObject({
  /** menuconfig sessions. */
  menuconfig: z.string().min(1).default("menuconfig"),
  /** olddefconfig, savedefconfig and the changed list, and building the tree's own kconfig tools. */
  kconfig: z.string().min(1).default("menuconfig"),
  /** `make <target>` on the kconfig tree: defconfig starts and the minimal form (needs the tree's host tools). */
  make: z.string().min(1).default("build-kernel"),
});

/** An upstream kbs registers by URL on first start (DESIGN.md: pre-registered upstreams are data). */
export const PreregisterSchema = z.strictObject({
  id: z.string().regex(/^[a-z][a-z0-9-]{0,39}$/),
  name: z.string().min(1),
  url: z.string().min(1),
});

export const RecipeSchema = z.strictObject({
  id: z.string().regex(/^[a-z][a-z0-9-]*$/),
  /** Bumped when the recipe's meaning changes; part of every build key. */
  version: z.number().int().positive(),
  name: z.string(),
  description: z.string().default(""),
  /** Globs (`**` any depth, `*` within a segment) of the files that make the kconfig-only tree. */
  kconfigPaths: z.array(z.string().min(1)).min(1),
  /** Files added to the kconfig tree that the real tree generates at build time (Kalico's src/extras/Kconfig). */
  extraFiles: z.record(z.string(), z.string()).default({}),
  /** The top Kconfig file, relative to the tree root: candidates in order, the first the tree has is used. */
  entry: z.array(TreePath).min(1),
  /**
   * What the tree's .config lines put before a symbol's name: CONFIG_ for Linux-style
   * kconfig; empty for Buildroot, whose symbols carry BR2_ in their own names (its kconfig
   * is built with an empty CONFIG_). Kconfig runs get it as the CONFIG_ environment variable.
   */
  symbolPrefix: z.string().regex(/^([A-Z][A-Z0-9_]*_)?$/, "empty, or upper-case letters, digits and _, ending in _").default("CONFIG_"),
  /** The environment variable the tree's kconfig tools take the config path from (Buildroot: BR2_CONFIG). */
  configVar: EnvName.default("KCONFIG_CONFIG"),
  /** kconfiglib: the tree's own lib/kconfiglib (else the system's); mconf: the tree's scripts/kconfig/mconf (else kconfig-mconf). */
  frontend: z.enum(["kconfiglib", "mconf"]),
  /** Where the tree keeps its config, relative to the root. */
  configFile: z.string().default(".config"),
  /** Environment for every Kconfig run on the tree (menuconfig, olddefconfig, savedefconfig): e.g. ARCH for Linux. */
  kconfigEnv: z.record(z.string(), z.string()).default({}),
  /**
   * Environment the tree's Makefile gives its Kconfig and kbs must work out: per variable,
   * a shell command (run once per kconfig tree in the menuconfig sandbox, with kconfigEnv,
   * when the tree's own tools are built) whose first output line is the value. Linux:
   * KERNELVERSION (`make -s kernelversion`) and CC_VERSION_TEXT, so a config written in kbs
   * is the one a local `make menuconfig` writes.
   */
  kconfigEnvProbe: z.record(z.string().regex(/^[A-Z_][A-Z0-9_]*$/), z.string().min(1)).default({}),
  /** Architectures a session may choose (Linux); the first is the default. Sets ARCH/SRCARCH. */
  arches: z.array(z.string()).default([]),
  /** Board presets from the tree's own board files, when the project has them. */
  presets: PresetsSchema.optional(),
  /** Flashing guidance for builds (first matching rule). */
  flash: z.array(FlashRuleSchema).default([]),
  kconfigTools: KconfigToolsSchema.prefault({}),
  images: ImagesSchema.prefault({}),
  /** Defconfig start points and the minimal form; absent: the project has none. */
  defconfigs: DefconfigsSchema.optional(),
  /** The external trees a project of this recipe may name (`kbs project add --external`); absent: none. */
  externals: ExternalsSchema.optional(),
  /** Registered by URL at first start (and removable, and re-pointable with `kbs project set-url`). */
  preregister: PreregisterSchema.optional(),
  build: z.strictObject({
    /** sandbox-images/<image> */
    image: z.string().min(1),
    /** Brings a written .config up to date before the build; its failure fails the build at "olddefconfig". */
    olddefconfig: z.array(z.string()).min(1),
    steps: z.array(BuildStepSchema).min(1),
    /** Globs of outputs, relative to the tree root; those that exist are collected. */
    artifacts: z.array(z.string()).min(1),
    /** Outputs listed in the manifest as optional (debug packs). */
    optionalArtifacts: z.array(z.string()).default([]),
    /** A separate fetch stage before the build; the build then sees the download cache read-only at /kbs/dl. */
    fetch: FetchSchema.optional(),
    /** Compilers a config needs, by the symbols it sets; unlisted symbols need nothing beyond the image. */
    toolchains: z.array(ToolchainRuleSchema).default([]),
    /** Artifacts of earlier builds this build takes, named by config symbols (a VM image on a kernel built here). */
    inputs: z.array(BuildInputSchema).default([]),
    /** manifest.json field -> artifact whose first line becomes its value (kernelVersion: kernel.release). */
    manifestFields: z
      .record(z.string().regex(/^[a-z][A-Za-z0-9]*$/), z.string().min(1))
      .refine((r) => !Object.keys(r).some((k) => coreManifestFields.includes(k)), "may not replace a core manifest field")
      .default({}),
    /**
     * A release manifest kbs writes itself under `name` (a reserved output name) from the
     * JSON the build left as the artifact `from`: its `assets[].name` entries get the size
     * and sha256 of the stored outputs, so the build cannot vouch for bytes it did not make.
     */
    releaseManifest: z.object({ name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/), from: z.string().min(1) }).optional(),
    /**
     * The recipe's own pins of the build identity (server/builds/identity.ts), added to the
     * ones every build gets: env name -> value, with {epoch}, {date}, {user}, {host}, {project}
     * filled in (Linux: KBUILD_BUILD_TIMESTAMP "{date}", KBUILD_BUILD_USER "{user}", ...).
     */
    identity: z.record(z.string().regex(/^[A-Z_][A-Z0-9_]*$/), z.string()).default({}),
    timeoutSec: z.number().int().positive().default(1800),
    memoryMB: z.number().int().positive().default(4096),
    diskMB: z.number().int().positive().default(4096),
  }),
});

export type Recipe = z.infer<typeof RecipeSchema>;
export type BuildStep = z.infer<typeof BuildStepSchema>;
export type BuildInput = z.infer<typeof BuildInputSchema>;
export type PresetsSpec = z.infer<typeof PresetsSchema>;
export type FlashRule = z.infer<typeof FlashRuleSchema>;
export type ToolchainRule = z.infer<typeof ToolchainRuleSchema>;

/** The recipe's entry Kconfig in a tree: its first candidate the tree has. */
export function entryIn(recipe: Recipe, has: (file: string) => boolean): string | undefined {
  return recipe.entry.find(has);
}

/** A recipe file's problems, one per field, each naming the field (an unknown field by its own name). */
export function recipeProblems(error: z.ZodError): string[] {
  return error.issues.map((i) => {
    const at = i.path.join(".");
    if (i.code === "unrecognized_keys") return `unknown field ${i.keys.map((k) => `'${at ? `${at}.` : ""}${k}'`).join(", ")}`;
    return `field '${at || "(top)"}': ${i.message}`;
  });
}

const recipesDir = path.join(path.dirname(fileURLToPath(import.meta.url)), "../projects/recipes");

let cache: Map<string, Recipe> | undefined;

/** All shipped recipes, validated; a broken recipe file stops start-up with its name and the problem. */
export function loadRecipes(dir = recipesDir): Map<string, Recipe> {
  if (cache && dir === recipesDir) return cache;
  const out = new Map<string, Recipe>();
  for (const f of fs.readdirSync(dir).filter((f) => f.endsWith(".json")).sort()) {
    const file = path.join(dir, f);
    let json: unknown;
    try {
      json = JSON.parse(fs.readFileSync(file, "utf8"));
    } catch (e) {
      throw new RecipeError(`recipe ${file}: not valid JSON: ${(e as Error).message}`);
    }
    const parsed = RecipeSchema.safeParse(json);
    if (!parsed.success) throw new RecipeError(`recipe ${file}: ${recipeProblems(parsed.error).join("; ")}`);
    if (`${parsed.data.id}.json` !== f) throw new RecipeError(`recipe ${file}: id '${parsed.data.id}' does not match the file name`);
    out.set(parsed.data.id, parsed.data);
  }
  if (dir === recipesDir) cache = out;
  return out;
}

/** A shipped recipe file that does not validate: stops start-up, naming the file and the field. */
export class RecipeError extends Error {}

export function getRecipe(id: string): Recipe | undefined {
  return loadRecipes().get(id);
}
