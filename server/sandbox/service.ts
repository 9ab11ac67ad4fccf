import path from "node:path";
import { defaultStagingRoot, type SandboxSettings, type Settings } from "../core/settings";
import { KbsError } from "../core/errors";
import { BwrapBackend } from "./bwrap";
import { EngineBackend } from "./docker";
import { QemuBackend } from "./qemu";
import { liveGauge, SandboxPool } from "./pool";
import type { PoolKey, RunRequest, RunResult, SandboxBackend, WarmSandbox } from "./types";
import { UidAllocator } from "./uids";

/** `kbs.sandbox`: the selected backend, one-shot runs, and the warm pool. */
export interface SandboxService {
  readonly backend: SandboxBackend;
  run(req: RunRequest): Promise<RunResult>;
  claim(key: PoolKey): Promise<WarmSandbox>;
  readonly pool: SandboxPool;
  /** Kill every sandbox this process started (warm, claimed and running jobs). */
  close(): Promise<void>;
}

export type BackendName = Settings["sandbox"];
export const BACKEND_NAMES: BackendName[] = ["bwrap", "qemu", "docker", "podman"];

export interface BackendContext {
  dataDir: string;
  sandboxes: SandboxSettings;
  /** Where sandboxes' host dirs are made (see staging.ts); default defaultStagingRoot(dataDir). */
  stagingDir?: string;
}

/** Build the backend named by KBS_SANDBOX. */
export async function createBackend(name: BackendName, ctx: BackendContext): Promise<SandboxBackend> {
  const s = ctx.sandboxes;
  switch (name) {
    case "bwrap": {
      const root = process.getuid?.() === 0;
      return new BwrapBackend({
        sandboxesDir: ctx.stagingDir ?? defaultStagingRoot(ctx.dataDir),
        uids: root ? new UidAllocator(s.uidBase, s.uidCount) : undefined,
      });
    }
    case "qemu":
      return new QemuBackend({ dir: path.join(ctx.dataDir, "qemu"), kernel: s.qemuKernel, accel: s.qemuAccel });
    case "docker":
    case "podman":
      return new EngineBackend(name, path.join(ctx.dataDir, "sandboxes"));
  }
}

class Service implements SandboxService {
  private readonly runs = new Set<AbortController>();

  constructor(
    readonly backend: SandboxBackend,
    readonly pool: SandboxPool,
    private readonly allowNetwork: boolean,
  ) {}

  async run(req: RunRequest): Promise<RunResult> {
    if (req.network && !this.allowNetwork) throw new KbsError("forbidden", "network_not_allowed", "A sandbox run asked for the network, which this server does not allow; an operator allows it for fetch stages with KBS_FETCH_NETWORK=1.");
    const ac = new AbortController();
    const onAbort = () => ac.abort();
    req.signal?.addEventListener("abort", onAbort, { once: true });
    if (req.signal?.aborted) ac.abort();
    this.runs.add(ac);
    liveGauge.inc();
    try {
      return await this.backend.run({ ...req, signal: ac.signal });
    } finally {
      liveGauge.dec();
      this.runs.delete(ac);
      req.signal?.removeEventListener("abort", onAbort);
    }
  }

  claim(key: PoolKey): Promise<WarmSandbox> {
    return this.pool.claim(key);
  }

  async close(): Promise<void> {
    for (const ac of this.runs) ac.abort();
    await this.pool.close();
  }
}

export async function createSandboxService(settings: Settings): Promise<SandboxService> {
  const s = settings.sandboxes;
  const backend = await createBackend(settings.sandbox, { dataDir: settings.dataDir, sandboxes: s, stagingDir: settings.stagingDir });
  const pool = new SandboxPool(backend, {
    size: settings.poolSize,
    images: s.poolImages,
    idleMs: s.poolIdleMs,
    spawnConcurrency: s.spawnConcurrency,
  });
  return new Service(backend, pool, s.allowNetwork);
}
