import fs from "node:fs";
import path from "node:path";
import { kconfigEnv } from "../configs/kconfig-env";
import { linkOrCopy } from "../configs/kconfig-tools";
import { HttpError } from "../http/errors";
import type { Recipe } from "../projects/recipe";
import type { RunRequest, RunResult } from "../sandbox/types";
import { archesInTree, srcArch } from "./arch";
import { bundleFiles } from "../configs/bundle-files";

/**
 * Starting points for a kernel config: the tree's own `make <target>` (defconfig,
 * tinyconfig, or a named *_defconfig) for an ARCH, run in a sandbox on the
 * revision's kconfig bundle — the tree's Makefile builds its own conf and runs its
 * own merge_config.sh, so the result is what `make ARCH=... defconfig` gives on
 * the full tree. The resulting .config is stored like any saved config.
 */
export interface StartDeps {
  settings: { dataDir: string };
  projects: { require(id: string): { id: string; recipe: Recipe } };
  revdb: { resolve(project: string, rev: string): { sha: string; describe: string; kconfigHash: string } };
  bundles: { path(kconfigHash: string): string };
  sandbox: { run(req: RunRequest): Promise<RunResult> };
  configs: { put(input: { project: string; commit: string; rev: string; text: string }): { id: string; created: boolean } };
}

const targetPattern = /^(defconfig|tinyconfig|[A-Za-z0-9][A-Za-z0-9_.+-]{0,80}_defconfig)$/;

/** The sandbox image that has the kernel's host tools (gcc, make, flex, bison) for building conf. */
const KCONFIG_MAKE_IMAGE = "build-kernel";

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
  // The bundle goes in as a dir of its own, readable by the sandbox's uid (as Kconfig tools do).
  const tmp = path.join(deps.settings.dataDir, "tmp");
  fs.mkdirSync(tmp, { recursive: true });
  const inDir = fs.mkdtempSync(path.join(tmp, "kernel-start-"));
  let r;
  try {
    fs.chmodSync(inDir, 0o755);
    linkOrCopy(bundle, path.join(inDir, "bundle.tar"));
    r = await deps.sandbox.run({
      image: KCONFIG_MAKE_IMAGE,
      binds: [{ host: inDir, guest: "/kbs/in" }],
      argv: ["/bin/sh", "-c", 'tar -xf /kbs/in/bundle.tar && make -s "$KBS_TARGET" >&2 && cat .config'],
      cwd: "/work",
      env: { ...kconfigEnv(recipe, arch), KBS_TARGET: req.start },
      timeoutMs: 300_000,
    });
  } finally {
    fs.rmSync(inDir, { recursive: true, force: true });
  }
  if (r.code !== 0) {
    const why = r.timedOut ? "it took too long" : r.stderr.toString("utf8").trim().split("\n").slice(-6).join(" | ") || `exit code ${r.code}`;
    throw new HttpError(422, "kconfig_failed", `make ARCH=${arch} ${req.start} on ${req.project} ${revision.describe} failed: ${why.slice(0, 800)}`);
  }
  const out = deps.configs.put({ project: req.project, commit: revision.sha, rev: req.rev, text: r.stdout.toString("utf8") });
  return { ...out, arch };
}
