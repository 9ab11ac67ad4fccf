import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import fs from "node:fs";
import { openDb, type Db } from "./core/db";
import { HostAllowList } from "./http/edge";
import { log } from "./core/log";
import type { Settings } from "./core/settings";
import type { GitRef } from "./gitref/gitref";
import type { ProjectRegistry } from "./projects/registry";
import { attachProjects } from "./projects/setup";
import type { SyncService } from "./projects/sync";
import type { KconfigBundleStore } from "./revdb/bundles";
import type { RevDb } from "./revdb/revdb";
import { createSandboxService, type SandboxService } from "./sandbox/service";
import type { KconfigTools } from "./configs/kconfig-tools";
import type { ConfigStore } from "./configs/store";
import type { SessionManager } from "./terminal/manager";
import { attachTerminal } from "./terminal/setup";
import type { BuildService } from "./builds/service";
import { attachBuilds } from "./builds/setup";
import type { SymbolService } from "./symbols/service";
import { attachSymbols } from "./symbols/setup";

/** A WebSocket (or other) upgrade handler for paths under `prefix`. */
export interface UpgradeRoute {
  prefix: string;
  handle(req: IncomingMessage, socket: Duplex, head: Buffer): void;
}

/**
 * The service graph of one kbs process: settings, the database and every part.
 * Built the same way for `kbs serve`, the CLI verbs and `kbs worker`; only `start()`
 * (background work: pool warming, sync of built-ins, build workers) differs by role.
 */
export class Kbs {
  readonly db: Db;
  /** The names the server answers to and the origins that may drive it (server/http/edge.ts). */
  readonly hosts: HostAllowList;
  /** Projects, the git mirror, the revision index, kconfig bundles and sync (server/projects, gitref, revdb). */
  projects!: ProjectRegistry;
  gitref!: GitRef;
  revdb!: RevDb;
  bundles!: KconfigBundleStore;
  sync!: SyncService;
  /** Sandboxes: one-shot runs and the warm pool (server/sandbox). */
  sandbox!: SandboxService;
  /** Saved configs, Kconfig tools and menuconfig sessions (server/configs, server/terminal). */
  configs!: ConfigStore;
  kconfig!: KconfigTools;
  sessions!: SessionManager;
  /** Build queue, workers, artifacts and logs (server/builds). */
  builds!: BuildService;
  /** Symbol indexes, lookups and history (server/symbols). */
  symbols!: SymbolService;
  readonly upgrades: UpgradeRoute[] = [];
  private closers: Array<() => Promise<void> | void> = [];
  private starters: Array<() => Promise<void> | void> = [];

  constructor(readonly settings: Settings) {
    fs.mkdirSync(settings.dataDir, { recursive: true });
    this.db = openDb(settings.dataDir);
    this.hosts = new HostAllowList(settings);
  }

  /** Register background work that runs only when the process serves (`kbs serve`). */
  onStart(fn: () => Promise<void> | void): void {
    this.starters.push(fn);
  }

  /** Register clean-up; run in reverse order of registration at close. */
  onClose(fn: () => Promise<void> | void): void {
    this.closers.push(fn);
  }

  async start(): Promise<void> {
    for (const fn of this.starters) await fn();
  }

  async close(): Promise<void> {
    for (const fn of this.closers.reverse()) {
      try {
        await fn();
      } catch (e) {
        log.warn({ err: e }, "error while closing");
      }
    }
    this.closers = [];
    this.db.close();
  }
}

export async function createKbs(settings: Settings): Promise<Kbs> {
  const kbs = new Kbs(settings);
  await attachProjects(kbs);
  kbs.sandbox = await createSandboxService(settings);
  kbs.onStart(() => kbs.sandbox.pool.start());
  kbs.onClose(() => kbs.sandbox.close());
  attachTerminal(kbs);
  attachBuilds(kbs);
  attachSymbols(kbs);
  return kbs;
}
