import path from "node:path";
import { fileURLToPath } from "node:url";
import { GUEST_IN } from "../core/guest-paths";
import { entryIn, type Recipe } from "../core/recipe";
import { runStaged, type FailureText, type Inputs } from "../sandbox/stage";
import type { RunRequest, RunResult } from "../sandbox/types";
import { bundleFiles } from "./bundle-files";
import { kconfigEnv } from "./kconfig-env";
import { TreeBinaryCache, type TreeBinaries } from "./tree-binaries";

/** The Python helper bound read-only into the sandbox (it never runs on the host). */
export const helperScript = path.join(path.dirname(fileURLToPath(import.meta.url)), "kconfig_helper.py");

/** The system's Kconfig `conf` (Debian kconfig-frontends), for the mconf frontend. */
export const systemConf = "/usr/bin/kconfig-conf";

export interface KconfigToolsDeps {
  settings: { dataDir: string; stagingDir: string };
  sandbox: { run(req: RunRequest): Promise<RunResult> };
  bundles: { ensure(kconfigHash: string): Promise<string> };
  projects: { require(id: string): { recipe: Recipe } };
}

export interface KconfigRevision {
  kconfigHash: string;
}

export type ChangedSymbol = { symbol: string; value: string; default: string };

type Op = "olddefconfig" | "savedefconfig" | "changed";

/**
 * Kconfig operations on a revision's kconfig tree, each in a one-shot sandbox:
 * parsing a tree runs its code (the Kconfig preprocessor's `$(shell,...)`, a tree's
 * own kconfiglib), so it never happens on the host. The tree comes in as the bundle
 * tar, which the helper extracts into the sandbox's /work.
 */
export class KconfigTools {
  /** A tree's own Kconfig tools (mconf/conf, or its Kconfiglib byte-compiled), prepared once per kconfig hash. */
  readonly treeBinaries: TreeBinaryCache;

  constructor(private readonly deps: KconfigToolsDeps) {
    this.treeBinaries = new TreeBinaryCache(deps);
  }

  olddefconfig(project: string, revision: KconfigRevision, text: string, opts: { arch?: string } = {}): Promise<string> {
    return this.op("olddefconfig", project, revision, text, opts.arch).then((b) => b.toString("utf8"));
  }

  savedefconfig(project: string, revision: KconfigRevision, text: string, opts: { arch?: string } = {}): Promise<string> {
    return this.op("savedefconfig", project, revision, text, opts.arch).then((b) => b.toString("utf8"));
  }

  async changed(project: string, revision: KconfigRevision, text: string, opts: { arch?: string } = {}): Promise<ChangedSymbol[]> {
    const out = await this.op("changed", project, revision, text, opts.arch);
    return JSON.parse(out.toString("utf8")) as ChangedSymbol[];
  }

  private async op(op: Op, project: string, revision: KconfigRevision, text: string, arch?: string): Promise<Buffer> {
    const { recipe } = this.deps.projects.require(project);
    const r = await this.runHelper(project, revision, {
      script: helperScript,
      args: (own) => {
        if (own?.conf && recipe.kconfigTools.viaMake) {
          const save = recipe.defconfigs ?? { savedefconfig: ["make", "-s", "savedefconfig"], output: "defconfig" };
          return [op, "--make-var", recipe.configVar, "--savedefconfig", JSON.stringify(save.savedefconfig), "--savedefconfig-output", save.output];
        }
        return [op, ...(recipe.frontend === "mconf" ? ["--conf", own?.conf ? `/work/${recipe.kconfigTools.dir}/conf` : systemConf] : [])];
      },
      stdin: text,
      arch,
      failure: { code: "kconfig_failed", what: `Kconfig ${op} on ${project}'s tree (kconfig ${revision.kconfigHash.slice(0, 12)})` },
    });
    return r.stdout;
  }

  /**
   * Run a Python helper of kbs on a revision's kconfig tree in a one-shot sandbox: the
   * script (with kconfig_helper.py beside it, which it may import), the bundle, the tree's
   * own built tools and any further `files` go in read-only at /kbs/in; the helper gets
   * `--entry` and `--bundle`s after `args`. An `@conf` argument becomes the path of the
   * conf program to use (the tree's, else the system's). With `failure`, a failed run
   * throws (sandbox/stage.ts); without, the caller reads the result.
   */
  async runHelper(
    project: string,
    revision: KconfigRevision,
    opts: {
      script: string;
      args: string[] | ((own: TreeBinaries | undefined) => string[]);
      files?: Record<string, Buffer | string>;
      stdin?: string;
      arch?: string;
      maxOutputBytes?: number;
      timeoutMs?: number;
      failure?: FailureText;
    },
  ): Promise<RunResult> {
    const { recipe } = this.deps.projects.require(project);
    const bundle = await this.deps.bundles.ensure(revision.kconfigHash);
    const script = path.basename(opts.script);
    const files = await bundleFiles(bundle);
    const entry = entryIn(recipe, (f) => files.has(f)) ?? recipe.entry[0]!;
    const own = await this.treeBinaries.get(recipe, revision.kconfigHash, bundle, files);
    const conf = own?.conf ? `/work/${recipe.kconfigTools.dir}/conf` : systemConf;
    const args = typeof opts.args === "function" ? opts.args(own) : opts.args.map((a) => (a === "@conf" ? conf : a));
    const argv = ["/usr/bin/python3", `${GUEST_IN}/${script}`, ...args, "--entry", entry, "--bundle", `${GUEST_IN}/bundle.tar`];
    if (own) argv.push("--bundle", `${GUEST_IN}/tree-bins.tar`);
    const inputs: Inputs = { ...opts.files, "bundle.tar": { link: bundle }, "kconfig_helper.py": { copy: helperScript } };
    if (own) inputs["tree-bins.tar"] = { link: own.tar };
    if (script !== "kconfig_helper.py") inputs[script] = { copy: opts.script };
    return runStaged(this.deps, {
      image: recipe.images.kconfig,
      inputs,
      argv,
      cwd: "/work",
      // The tree's probed environment (recipe kconfigEnvProbe: the kernel's version, the compiler's) as a local make has it.
      env: { KCONFIG_CONFIG: "/work/.config", ...kconfigEnv(recipe, opts.arch), ...own?.env },
      stdin: opts.stdin ?? "",
      timeoutMs: opts.timeoutMs ?? 120_000,
      ...(opts.maxOutputBytes ? { maxOutputBytes: opts.maxOutputBytes } : {}),
      failure: opts.failure,
    });
  }
}
