import { bundleFiles } from "../configs/bundle-files";
import type { KconfigTools } from "../configs/kconfig-tools";
import { log } from "../core/log";
import type { Recipe } from "../core/recipe";
import type { Settings } from "../core/settings";
import type { RevDb } from "../revdb/revdb";

export interface PrebuildDeps {
  settings: Pick<Settings, "sessions">;
  projects: { require(id: string): { recipe: Recipe } };
  revdb: Pick<RevDb, "list">;
  bundles: { ensure(kconfigHash: string): Promise<string> };
  kconfig: Pick<KconfigTools, "treeBinaries">;
}

/** How many named revisions (tags and branch heads, newest first) are looked at for their kconfig trees. */
const NAMED_SCAN = 50;

/**
 * A sync's last phase: the tree's own Kconfig tools (mconf/conf, or Kconfiglib's
 * bytecode) for the kconfig trees of the newest tags and branch heads, at most
 * `KBS_PREBUILD_TREES` of them, so the first session on a new release does not compile
 * them. Each is built once per kconfig hash (kept in data/kconfig-bin), as sessions do.
 */
export async function prebuildTreeTools(kbs: PrebuildDeps, projectId: string, progress: (done: number, total: number) => void): Promise<void> {
  const limit = kbs.settings.sessions.prebuildTrees;
  if (!limit) return;
  const { recipe } = kbs.projects.require(projectId);
  const hashes: string[] = [];
  for (const r of kbs.revdb.list(projectId, { limit: NAMED_SCAN })) {
    if (!r.refs.length) break;
    if (!hashes.includes(r.kconfigHash)) hashes.push(r.kconfigHash);
    if (hashes.length >= limit) break;
  }
  progress(0, hashes.length);
  for (const [i, hash] of hashes.entries()) {
    const bundle = await kbs.bundles.ensure(hash);
    const tools = await kbs.kconfig.treeBinaries.get(recipe, hash, bundle, await bundleFiles(bundle));
    log.debug({ project: projectId, kconfigHash: hash, built: !!tools }, "tree's Kconfig tools ready");
    progress(i + 1, hashes.length);
  }
}
