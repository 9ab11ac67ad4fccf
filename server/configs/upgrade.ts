import path from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { run } from "../core/proc";
import type { Recipe } from "../core/recipe";
import type { Revision } from "../core/revision";
import type { KconfigTools } from "./kconfig-tools";
import type { StoredConfig } from "./store";
import { unprocessable } from "../core/errors";

const upgradeHelper = path.join(path.dirname(fileURLToPath(import.meta.url)), "upgrade_helper.py");

const Report = z.object({
  config: z.string().max(4 * 1024 * 1024),
  new: z.array(z.object({ symbol: z.string(), value: z.string(), prompt: z.string().nullable() })),
  removed: z.array(z.object({ symbol: z.string(), value: z.string() })),
  changed: z.array(z.object({ symbol: z.string(), from: z.string(), to: z.string() })),
});
export type UpgradeChanges = Omit<z.infer<typeof Report>, "config">;

export interface UpgradeResult extends UpgradeChanges {
  configId?: string;
  from: { rev: string; describe: string; commit: string };
  to: { rev: string; describe: string; commit: string };
}

export interface UpgradeDeps {
  projects: { require(id: string): { id: string; recipe: Recipe } };
  revdb: { resolve(project: string, rev: string): Revision };
  configs: { require(id: string): StoredConfig; put(input: { project: string; commit: string; rev: string; text: string }): { id: string; created: boolean } };
  kconfig: KconfigTools;
}

/**
 * A saved config brought to another revision of its project (POST /api/configs/:id/upgrade,
 * `kbs config upgrade`): the config, completed on its own revision, is loaded into the
 * target revision's Kconfig as olddefconfig does, in a sandbox; the report names the
 * symbols that are new (with the value chosen and their prompt), removed, or changed.
 * With `store: false` nothing is stored (the /c/:id notice's preview).
 */
export async function upgradeConfig(deps: UpgradeDeps, configId: string, rev: string, opts: { store?: boolean } = {}): Promise<UpgradeResult> {
  const c = deps.configs.require(configId);
  deps.projects.require(c.project);
  const target = deps.revdb.resolve(c.project, rev);
  const complete = await deps.kconfig.olddefconfig(c.project, c, c.text);
  const r = await deps.kconfig.runHelper(c.project, target, { script: upgradeHelper, args: ["upgrade"], stdin: complete, failure: { code: "tree_script_failed", what: `Upgrading the config to ${c.project} ${target.describe}` } });
  let report: z.infer<typeof Report>;
  try {
    report = Report.parse(JSON.parse(r.stdout.toString("utf8")));
  } catch {
    throw unprocessable("upgrade_failed", `Upgrading the config to ${c.project} ${target.describe} gave no usable result.`);
  }
  const { config, ...changes } = report;
  const out: UpgradeResult = { ...changes, from: { rev: c.rev, describe: c.describe, commit: c.commit }, to: { rev, describe: target.describe, commit: target.sha } };
  if (opts.store !== false) out.configId = deps.configs.put({ project: c.project, commit: target.sha, rev, text: config }).id;
  return out;
}

/**
 * The newest revision of a branch that contains the config's commit (the default branch
 * first), when that branch has moved on; undefined when the config is at every such head.
 */
export async function newerOnBranch(
  deps: { gitref: { dir: string; refs(project: string): Promise<Array<{ kind: string; name: string; commit: string }>> }; revdb: { resolve(project: string, rev: string): Revision; head(project: string): string | undefined } },
  c: StoredConfig,
): Promise<{ branch: string; revision: Revision } | undefined> {
  const head = deps.revdb.head(c.project);
  const branches = (await deps.gitref.refs(c.project)).filter((r) => r.kind === "branch" && r.name !== "REMOTE_HEAD" && r.commit !== c.commit);
  branches.sort((a, b) => Number(b.commit === head) - Number(a.commit === head) || a.name.localeCompare(b.name));
  for (const b of branches) {
    const r = await run("git", ["--git-dir", deps.gitref.dir, "merge-base", "--is-ancestor", c.commit, b.commit], { timeoutMs: 30_000 });
    if (r.code !== 0) continue;
    try {
      return { branch: b.name, revision: deps.revdb.resolve(c.project, b.commit) };
    } catch {
      continue; // a head not indexed yet
    }
  }
  return undefined;
}
