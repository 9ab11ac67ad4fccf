import fs from "node:fs";
import { openDb, type Db } from "./core/db";
import { log } from "./core/log";
import { DEFAULT_PREFIX } from "./configs/parse";
import type { Settings } from "./core/settings";
import type { GitRef } from "./gitref/gitref";
import type { ProjectRegistry } from "./projects/registry";
import { ensureBuiltins, registerUpstreams } from "./projects/builtins";
import { createProjectParts } from "./projects/parts";
import type { SyncService } from "./projects/sync";
import type { KconfigBundleStore } from "./revdb/bundles";
import type { RevDb } from "./revdb/revdb";
import { createSandboxService, type SandboxService } from "./sandbox/service";
import { DerivedConfigs } from "./configs/derived";
import { KconfigTools } from "./configs/kconfig-tools";
import { ConfigStore } from "./configs/store";
import { SessionManager } from "./terminal/manager";
import { prebuildTreeTools } from "./terminal/prebuild";
import { BuildService } from "./builds/service";
import { RemoteJobs } from "./builds/remote/jobs";
import { SymbolService } from "./symbols/service";
import { KernelDefconfigs } from "./kernel/defconfig";
import { PresetService } from "./presets/service";
import { PrinterService } from "./printers/service";
import { WorkerRegistry } from "./workers/registry";
import { WorkerTokens } from "./workers/tokens";

/**
 * The parts of one kbs process: settings, the database and every service, each built
 * once, in dependency order, from the parts it uses. `kbs serve`, the CLI verbs and
 * `kbs worker` build it the same way; only `start()` (background work: pool warming,
 * priming, sync of pre-registered upstreams, build workers) is for `kbs serve` alone.
 */
export interface Kbs {
  readonly settings: Settings;
  readonly db: Db;
  /** Projects, the git mirror, the revision index, kconfig bundles and sync (server/projects, gitref, revdb). */
  readonly projects: ProjectRegistry;
  readonly gitref: GitRef;
  readonly revdb: RevDb;
  readonly bundles: KconfigBundleStore;
  readonly sync: SyncService;
  /** Sandboxes: one-shot runs and the warm pool (server/sandbox). */
  readonly sandbox: SandboxService;
  /** Saved configs, their derived forms, the Kconfig tools and menuconfig sessions (server/configs, server/terminal). */
  readonly configs: ConfigStore;
  readonly kconfig: KconfigTools;
  readonly derived: DerivedConfigs;
  readonly sessions: SessionManager;
  /** Build queue, workers, artifacts and logs (server/builds); remote workers' jobs and tokens (server/builds/remote, server/workers). */
  readonly builds: BuildService;
  readonly workerTokens: WorkerTokens;
  readonly remoteJobs: RemoteJobs;
  /** Symbol indexes, lookups and history (server/symbols). */
  readonly symbols: SymbolService;
  /** Defconfig diffs and patches (server/kernel), board presets (server/presets), printer profiles (server/printers). */
  readonly defconfigs: KernelDefconfigs;
  readonly presets: PresetService;
  readonly printers: PrinterService;
  /** Run the background work the parts registered (`kbs serve`). */
  start(): Promise<void>;
  /** Stop every part, in reverse order of building; the database last. */
  close(): Promise<void>;
}

type Work = () => Promise<void> | void;

export async function createKbs(settings: Settings): Promise<Kbs> {
  const starters: Work[] = [];
  const closers: Work[] = [];
  const onStart = (fn: Work) => void starters.push(fn);
  const onClose = (fn: Work) => void closers.push(fn);

  fs.mkdirSync(settings.dataDir, { recursive: true });
  const db = openDb(settings.dataDir);
  onClose(() => void db.close());

  const { projects, gitref, revdb, bundles, sync } = createProjectParts(settings.dataDir, db);
  // Built-ins are imported now (offline, fast when unchanged); pre-registered upstreams sync
  // in the background once the server runs, never blocking start-up.
  if (settings.builtins) await ensureBuiltins(projects, sync);
  if (settings.upstreams) {
    const ids = registerUpstreams(projects);
    onStart(() => {
      void (async () => {
        for (const id of ids) await sync.start(id);
      })();
    });
  }

  const sandbox = await createSandboxService(settings);
  onStart(() => sandbox.pool.start());
  onClose(() => sandbox.close());

  const configs = new ConfigStore(db, revdb, (project) => projects.get(project)?.recipe.symbolPrefix ?? DEFAULT_PREFIX);
  const kconfig = new KconfigTools({ settings, sandbox, bundles, projects });
  const derived = new DerivedConfigs(configs, kconfig);
  const sessions = new SessionManager({ settings, db, projects, revdb, bundles, sandbox, configs, kconfig });
  // So that no user pays for compiling a tree's mconf: built as a sync's last phase.
  const prebuildDeps = { settings, projects, revdb, bundles, kconfig };
  sync.onSynced((id, progress) => prebuildTreeTools(prebuildDeps, id, progress));
  // A new server knows nothing of the trees yet: the newest ones' bundles, file lists and tools
  // are looked at (built, if an older kbs synced them) before a first session waits for that.
  // Not awaited by start; close waits for it (stopping between projects) so no sandbox outlives the db.
  let preparing = Promise.resolve();
  let closing = false;
  onStart(() => {
    preparing = (async () => {
      for (const p of projects.list()) {
        if (closing) return;
        await prebuildTreeTools(prebuildDeps, p.id, () => {}).catch((e: unknown) => log.warn({ err: e, project: p.id }, "preparing the tree's Kconfig tools failed; its first session prepares them"));
      }
    })();
  });
  onClose(() => {
    closing = true;
    return preparing;
  });
  onStart(() => sessions.startPriming());
  onClose(() => sessions.close());

  const builds = new BuildService(settings, db, { projects, revdb, gitref, configs, kconfig, sandbox });
  sync.onSynced((id, progress) => builds.prepareTrees(id, progress));
  const workerTokens = new WorkerTokens(db);
  const remoteJobs = new RemoteJobs(settings, builds, { projects, configs }, new WorkerRegistry());
  onStart(() => remoteJobs.removeStaleUploads());
  onStart(() => builds.start());
  onClose(() => builds.close());

  const symbols = new SymbolService({ db, settings, projects, revdb, kconfig, configs });
  const defconfigs = new KernelDefconfigs({ settings, sandbox, bundles, projects, configs });
  const presets = new PresetService({ db, settings, sandbox, bundles, gitref, projects, revdb, configs, kconfig });
  const printers = new PrinterService({ db, projects, revdb, gitref, configs, kconfig, builds });

  return {
    settings,
    db,
    projects,
    gitref,
    revdb,
    bundles,
    sync,
    sandbox,
    configs,
    kconfig,
    derived,
    sessions,
    builds,
    workerTokens,
    remoteJobs,
    symbols,
    defconfigs,
    presets,
    printers,
    async start() {
      for (const fn of starters) await fn();
    },
    async close() {
      for (const fn of closers.splice(0).reverse()) {
        try {
          await fn();
        } catch (e) {
          log.warn({ err: e }, "error while closing");
        }
      }
    },
  };
}
