import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";

/**
 * A recipe is data (server/projects/recipes/<id>.json), like TuxMake's target .ini files:
 * which paths make the kconfig-only tree, how menuconfig runs on it, and how to build.
 * Adding a kind of project means adding a recipe, not code.
 */
export const BuildStepSchema = z.object({
  name: z.string().min(1),
  /** argv run in the build sandbox at the tree root; `{jobs}` is replaced by the worker's -j count. */
  argv: z.array(z.string()).min(1),
});

/** A previous build's artifact handed to a build, chosen by a config symbol whose value is a build id. */
export const BuildInputSchema = z.object({
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
const coreManifestFields = ["schema", "build", "project", "rev", "commit", "describe", "configId", "recipe", "image", "toolchain", "jobs", "startedAt", "finishedAt", "durationMs", "artifacts", "inputs"];

export const RecipeSchema = z.object({
  id: z.string().regex(/^[a-z][a-z0-9-]*$/),
  /** Bumped when the recipe's meaning changes; part of every build key. */
  version: z.number().int().positive(),
  name: z.string(),
  description: z.string().default(""),
  /** Globs (`**` any depth, `*` within a segment) of the files that make the kconfig-only tree. */
  kconfigPaths: z.array(z.string().min(1)).min(1),
  /** Files added to the kconfig tree that the real tree generates at build time (Kalico's src/extras/Kconfig). */
  extraFiles: z.record(z.string(), z.string()).default({}),
  /** The top Kconfig file, relative to the tree root. */
  entry: z.string().min(1),
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
  build: z.object({
    /** sandbox-images/<image> */
    image: z.string().min(1),
    /** Brings a written .config up to date before the build; its failure fails the build at "olddefconfig". */
    olddefconfig: z.array(z.string()).min(1),
    steps: z.array(BuildStepSchema).min(1),
    /** Globs of outputs, relative to the tree root; those that exist are collected. */
    artifacts: z.array(z.string()).min(1),
    /** Outputs listed in the manifest as optional (debug packs). */
    optionalArtifacts: z.array(z.string()).default([]),
    /** Artifacts of earlier builds this build takes, named by config symbols (a VM image on a kernel built here). */
    inputs: z.array(BuildInputSchema).default([]),
    /** manifest.json field -> artifact whose first line becomes its value (kernelVersion: kernel.release). */
    manifestFields: z
      .record(z.string().regex(/^[a-z][A-Za-z0-9]*$/), z.string().min(1))
      .refine((r) => !Object.keys(r).some((k) => coreManifestFields.includes(k)), "may not replace a core manifest field")
      .default({}),
    timeoutSec: z.number().int().positive().default(1800),
    memoryMB: z.number().int().positive().default(4096),
    diskMB: z.number().int().positive().default(4096),
  }),
});

export type Recipe = z.infer<typeof RecipeSchema>;
export type BuildStep = z.infer<typeof BuildStepSchema>;
export type BuildInput = z.infer<typeof BuildInputSchema>;

const recipesDir = path.join(path.dirname(fileURLToPath(import.meta.url)), "recipes");

let cache: Map<string, Recipe> | undefined;

/** All shipped recipes, validated; a broken recipe file stops start-up with its name and the problem. */
export function loadRecipes(dir = recipesDir): Map<string, Recipe> {
  if (cache && dir === recipesDir) return cache;
  const out = new Map<string, Recipe>();
  for (const f of fs.readdirSync(dir).filter((f) => f.endsWith(".json")).sort()) {
    const parsed = RecipeSchema.safeParse(JSON.parse(fs.readFileSync(path.join(dir, f), "utf8")));
    if (!parsed.success) throw new Error(`recipe ${f}: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
    if (`${parsed.data.id}.json` !== f) throw new Error(`recipe ${f}: id '${parsed.data.id}' does not match the file name`);
    out.set(parsed.data.id, parsed.data);
  }
  if (dir === recipesDir) cache = out;
  return out;
}

export function getRecipe(id: string): Recipe | undefined {
  return loadRecipes().get(id);
}
