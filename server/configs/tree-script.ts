import fs from "node:fs";
import path from "node:path";
import { HttpError } from "../http/errors";
import { entryIn, type Recipe } from "../core/recipe";
import { Staging } from "../sandbox/staging";
import type { RunResult } from "../sandbox/types";
import { bundleFiles } from "./bundle-files";
import { kconfigEnv } from "./kconfig-env";
import { helperScript, linkOrCopy, type KconfigToolsDeps, type KconfigTools } from "./kconfig-tools";

export interface TreeScriptDeps extends Pick<KconfigToolsDeps, "settings" | "sandbox" | "bundles"> {
  kconfig: Pick<KconfigTools, "treeBinaries">;
}

/**
 * Run a Python helper of kbs on a revision's kconfig tree in a one-shot sandbox: the
 * bundle (and the tree's prepared Kconfig tools) go in read-only at /kbs/in beside the
 * script, kconfig_helper.py (which the script may import) and any extra input files.
 * The script gets `--entry <entry> --bundle <tar>...` after `args`; a failure says what
 * the script printed last.
 */
export async function runTreeScript(
  deps: TreeScriptDeps,
  req: { script: string; args: string[]; recipe: Recipe; kconfigHash: string; what: string; files?: Record<string, Buffer | string>; stdin?: string; timeoutMs?: number; maxOutputBytes?: number },
): Promise<RunResult> {
  const bundle = deps.bundles.path(req.kconfigHash);
  const files = await bundleFiles(bundle);
  const own = await deps.kconfig.treeBinaries.get(req.recipe, req.kconfigHash, bundle, files);
  const entry = entryIn(req.recipe, (f) => files.has(f)) ?? req.recipe.entry[0]!;
  const argv = ["/usr/bin/python3", `/kbs/in/${path.basename(req.script)}`, ...req.args, "--entry", entry, "--bundle", "/kbs/in/bundle.tar"];
  if (own) argv.push("--bundle", "/kbs/in/tree-bins.tar");
  const staged = new Staging(deps.settings.stagingDir).make();
  const inDir = staged.dir;
  let r: RunResult;
  try {
    linkOrCopy(bundle, path.join(inDir, "bundle.tar"));
    if (own) linkOrCopy(own.tar, path.join(inDir, "tree-bins.tar"));
    for (const [name, data] of Object.entries(req.files ?? {})) {
      fs.writeFileSync(path.join(inDir, name), data);
      fs.chmodSync(path.join(inDir, name), 0o644);
    }
    fs.copyFileSync(helperScript, path.join(inDir, "kconfig_helper.py"));
    fs.copyFileSync(req.script, path.join(inDir, path.basename(req.script)));
    r = await deps.sandbox.run({
      image: req.recipe.images.kconfig,
      binds: [{ host: inDir, guest: "/kbs/in" }],
      argv,
      cwd: "/work",
      env: { KCONFIG_CONFIG: "/work/.config", ...kconfigEnv(req.recipe) },
      stdin: req.stdin,
      timeoutMs: req.timeoutMs ?? 120_000,
      maxOutputBytes: req.maxOutputBytes,
    });
  } finally {
    staged.remove();
  }
  if (r.code !== 0) {
    const why = r.timedOut ? "it took too long" : r.stderr.toString("utf8").trim().split("\n").slice(-5).join(" | ") || `exit code ${r.code}`;
    throw new HttpError(422, "tree_script_failed", `${req.what} failed: ${why.slice(0, 800)}`);
  }
  return r;
}
