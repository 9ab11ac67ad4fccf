import path from "node:path";
import { GitRef } from "../gitref/gitref";
import type { Kbs } from "../kbs";
import { KconfigBundleStore } from "../revdb/bundles";
import { RevDb } from "../revdb/revdb";
import { ensureBuiltins, registerUpstreams } from "./builtins";
import { ProjectRegistry } from "./registry";
import { SyncService } from "./sync";

/**
 * Build the projects/gitref/revdb part of the service graph: the registry, the mirror,
 * the index, the bundle store and the sync service. Built-ins are imported before this
 * returns (offline, fast when unchanged); pre-registered upstreams sync in the
 * background once the server runs, never blocking start-up.
 */
export async function attachProjects(kbs: Kbs): Promise<void> {
  const { settings, db } = kbs;
  kbs.revdb = new RevDb(db);
  kbs.projects = new ProjectRegistry(db, (id) => kbs.revdb.count(id));
  kbs.gitref = new GitRef(path.join(settings.dataDir, "gitref.git"));
  kbs.bundles = new KconfigBundleStore(path.join(settings.dataDir, "bundles"), kbs.gitref.dir);
  kbs.sync = new SyncService({ db, projects: kbs.projects, gitref: kbs.gitref, revdb: kbs.revdb, bundles: kbs.bundles });
  if (settings.builtins) await ensureBuiltins(kbs.projects, kbs.sync);
  if (settings.upstreams) {
    const ids = registerUpstreams(kbs.projects);
    kbs.onStart(() => {
      void (async () => {
        for (const id of ids) await kbs.sync.start(id);
      })();
    });
  }
}
