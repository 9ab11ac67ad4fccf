import { externalRefId } from "./externals";
import type { DerivedConfigs } from "../configs/derived";
import type { ConfigStore } from "../configs/store";
import { conflict } from "../core/errors";
import { log } from "../core/log";
import type { GitRef } from "../gitref/gitref";
import type { KconfigBundleStore } from "../revdb/bundles";
import type { RevDb } from "../revdb/revdb";
import type { ProjectRegistry } from "./registry";

export interface RemovedProject {
  refs: number;
  revisions: number;
  bundles: number;
  /** saved configs whose minimal form and changed list were computed now, so they stay readable */
  configsKept: number;
}

/**
 * `kbs project remove`: the project's gitref refs, its revdb rows and the kconfig bundles no
 * other project (and no saved config) has. Saved configs and builds stay readable: a
 * config's derived forms are computed first, while the tree is still there.
 */
export async function removeProject(
  kbs: { projects: ProjectRegistry; gitref: GitRef; revdb: RevDb; bundles: KconfigBundleStore; configs: ConfigStore; derived: DerivedConfigs },
  id: string,
): Promise<RemovedProject> {
  const project = kbs.projects.require(id);
  if (project.sync.state === "syncing") throw conflict("sync_running", `Project '${id}' is syncing; wait for it to finish, then remove it.`);
  const underived = kbs.configs.underived(id);
  for (const c of underived) {
    await kbs.derived.get(c).catch((e: unknown) => log.warn({ config: c.id, err: (e as Error).message }, "a saved config's minimal form could not be computed before its project was removed"));
  }
  const revisions = project.revisionCount;
  const orphans = kbs.revdb.removeProject(id).filter((h) => !kbs.configs.usesKconfigHash(h));
  for (const h of orphans) kbs.bundles.remove(h);
  let refs = await kbs.gitref.removeRefs(id);
  for (const e of project.externals) refs += await kbs.gitref.removeRefs(externalRefId(id, e.name));
  kbs.projects.remove(id, { removed: true });
  return { refs, revisions, bundles: orphans.length, configsKept: underived.length };
}
