import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { HttpError } from "../http/errors";
import type { Recipe } from "../projects/recipe";
import type { RunRequest, RunResult } from "../sandbox/types";
import { bundleFiles, linkOrCopy } from "./bundle-files";
import { kconfigEnv } from "./kconfig-env";
import { TreeBinaryCache } from "./tree-binaries";

export { linkOrCopy } from "./bundle-files";

/** The Python helper bound read-only into the sandbox (it never runs on the host). */
export const helperScript = path.join(path.dirname(fileURLToPath(import.meta.url)), "kconfig_helper.py");

/** The system's Kconfig `conf` (Debian kconfig-frontends), for the mconf frontend. */
export const systemConf = "/usr/bin/kconfig-conf";

export interface KconfigToolsDeps {
  settings: { dataDir: string };
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
    const bundle = this.deps.bundles.path(revision.kconfigHash);
    const argv = ["/usr/bin/python3", "/kbs/in/kconfig_helper.py", op, "--entry", recipe.entry, "--bundle", "/kbs/in/bundle.tar"];
    const own = await this.treeBinaries.get(recipe, revision.kconfigHash, bundle, await bundleFiles(bundle));
    if (own) argv.push("--bundle", "/kbs/in/tree-bins.tar");
    if (recipe.frontend === "mconf") argv.push("--conf", own?.conf ? "/work/scripts/kconfig/conf" : systemConf);
    // The bundle and the helper go in as one read-only dir, readable by the sandbox's own uid.
    const tmp = path.join(this.deps.settings.dataDir, "tmp");
    fs.mkdirSync(tmp, { recursive: true });
    const inDir = fs.mkdtempSync(path.join(tmp, "kconfig-"));
    let r;
    try {
      fs.chmodSync(inDir, 0o755);
      linkOrCopy(bundle, path.join(inDir, "bundle.tar"));
      if (own) linkOrCopy(own.tar, path.join(inDir, "tree-bins.tar"));
      fs.copyFileSync(helperScript, path.join(inDir, "kconfig_helper.py"));
      r = await this.deps.sandbox.run({
        image: "menuconfig",
        binds: [{ host: inDir, guest: "/kbs/in" }],
        argv,
        cwd: "/work",
        env: { KCONFIG_CONFIG: "/work/.config", ...kconfigEnv(recipe, arch), ...own?.env },
        stdin: text,
        timeoutMs: 120_000,
      });
    } finally {
      fs.rmSync(inDir, { recursive: true, force: true });
    }
    if (r.code !== 0) {
      const why = r.timedOut ? "it took too long" : r.stderr.toString("utf8").trim().split("\n").slice(-5).join(" | ") || `exit code ${r.code}`;
      throw new HttpError(422, "kconfig_failed", `Kconfig ${op} on ${project}'s tree (kconfig ${revision.kconfigHash.slice(0, 12)}) failed: ${why.slice(0, 800)}`);
    }
    return r.stdout;
  }
}
