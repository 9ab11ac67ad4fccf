import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { HttpError } from "../http/errors";
import { entryIn, type Recipe } from "../core/recipe";
import type { RunRequest, RunResult } from "../sandbox/types";
import { bundleFiles, linkOrCopy } from "./bundle-files";
import { kconfigEnv } from "./kconfig-env";
import { TreeBinaryCache, type TreeBinaries } from "./tree-binaries";
import { Staging } from "../sandbox/staging";

export { linkOrCopy } from "./bundle-files";

/** The Python helper bound read-only into the sandbox (it never runs on the host). */
export const helperScript = path.join(path.dirname(fileURLToPath(import.meta.url)), "kconfig_helper.py");

/** The system's Kconfig `conf` (Debian kconfig-frontends), for the mconf frontend. */
export const systemConf = "/usr/bin/kconfig-conf";

export interface KconfigToolsDeps {
  settings: { dataDir: string; stagingDir: string };
  sandbox: { run(req: RunRequest): Promise<RunResult> };
  bundles: { path(kconfigHash: string): string };
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
    });
    if (r.code !== 0) {
      const why = r.timedOut ? "it took too long" : r.stderr.toString("utf8").trim().split("\n").slice(-5).join(" | ") || `exit code ${r.code}`;
      throw new HttpError(422, "kconfig_failed", `Kconfig ${op} on ${project}'s tree (kconfig ${revision.kconfigHash.slice(0, 12)}) failed: ${why.slice(0, 800)}`);
    }
    return r.stdout;
  }

  /**
   * Run a Python helper on a revision's kconfig tree in a one-shot sandbox: the script
   * (with kconfig_helper.py beside it) and the bundle, plus the tree's own built tools,
   * go in read-only at /kbs/in; the helper gets `--entry` and `--bundle`s after `args`.
   * An `@conf` argument becomes the path of the conf program to use (the tree's, else the system's).
   */
  async runHelper(
    project: string,
    revision: KconfigRevision,
    opts: { script: string; args: string[] | ((own: TreeBinaries | undefined) => string[]); stdin?: string; arch?: string; maxOutputBytes?: number; timeoutMs?: number },
  ): Promise<RunResult> {
    const { recipe } = this.deps.projects.require(project);
    const bundle = this.deps.bundles.path(revision.kconfigHash);
    const script = path.basename(opts.script);
    const files = await bundleFiles(bundle);
    const entry = entryIn(recipe, (f) => files.has(f)) ?? recipe.entry[0]!;
    const own = await this.treeBinaries.get(recipe, revision.kconfigHash, bundle, files);
    const conf = own?.conf ? `/work/${recipe.kconfigTools.dir}/conf` : systemConf;
    const args = typeof opts.args === "function" ? opts.args(own) : opts.args.map((a) => (a === "@conf" ? conf : a));
    const argv = ["/usr/bin/python3", `/kbs/in/${script}`, ...args, "--entry", entry, "--bundle", "/kbs/in/bundle.tar"];
    if (own) argv.push("--bundle", "/kbs/in/tree-bins.tar");
    // The bundle and the helper go in as one read-only dir, readable by the sandbox's own uid.
    const staged = new Staging(this.deps.settings.stagingDir).make();
    const inDir = staged.dir;
    try {
      linkOrCopy(bundle, path.join(inDir, "bundle.tar"));
      if (own) linkOrCopy(own.tar, path.join(inDir, "tree-bins.tar"));
      fs.copyFileSync(helperScript, path.join(inDir, "kconfig_helper.py"));
      if (script !== "kconfig_helper.py") fs.copyFileSync(opts.script, path.join(inDir, script));
      return await this.deps.sandbox.run({
        image: recipe.images.kconfig,
        binds: [{ host: inDir, guest: "/kbs/in" }],
        argv,
        cwd: "/work",
        // The tree's probed environment (recipe kconfigEnvProbe: the kernel's version, the compiler's) as a local make has it.
        env: { KCONFIG_CONFIG: "/work/.config", ...kconfigEnv(recipe, opts.arch), ...own?.env },
        stdin: opts.stdin ?? "",
        timeoutMs: opts.timeoutMs ?? 120_000,
        ...(opts.maxOutputBytes ? { maxOutputBytes: opts.maxOutputBytes } : {}),
      });
    } finally {
      staged.remove();
    }
  }
}
