import path from "node:path";
import type { Db } from "../core/db";
import { GitRef } from "../gitref/gitref";
import { KconfigBundleStore } from "../revdb/bundles";
import { RevDb } from "../revdb/revdb";
import { loadRecipes } from "../core/recipe";
import { ProjectRegistry } from "./registry";
import { SyncService } from "./sync";

export interface ProjectParts {
  projects: ProjectRegistry;
  gitref: GitRef;
  revdb: RevDb;
  bundles: KconfigBundleStore;
  sync: SyncService;
}

/** The registry, the mirror, the index, the bundle store and the sync service over one data dir. */
export function createProjectParts(dataDir: string, db: Db): ProjectParts {
  // Every recipe file is checked now: a broken one stops start-up naming the file and the field.
  loadRecipes();
  const revdb = new RevDb(db);
  const projects = new ProjectRegistry(db, (id) => revdb.count(id));
  const gitref = new GitRef(path.join(dataDir, "gitref.git"));
  const bundles = new KconfigBundleStore(path.join(dataDir, "bundles"), gitref.dir, (hash) => {
    const project = revdb.projectWithHash(hash);
    const recipe = project === undefined ? undefined : projects.get(project)?.recipe;
    const entries = revdb.treeEntries(hash);
    return recipe && entries ? { entries, extraFiles: recipe.extraFiles } : undefined;
  });
  const sync = new SyncService({ db, projects, gitref, revdb, bundles });
  return { projects, gitref, revdb, bundles, sync };
}
