import { z } from "zod";
import { newerOnBranch, upgradeConfig, type UpgradeDeps } from "../../configs/upgrade";
import type { PresetService } from "../../presets/service";
import type { LatestRevision, UpgradedConfig } from "../../../contracts/api";
import { readJson, Reply, type Router } from "../router";

const UpgradeBody = z.object({ rev: z.string().min(1).max(300) });

/**
 * Config upgrades (DESIGN.md "HTTP API"):
 *   POST /api/configs/:id/upgrade {rev}   201 {configId, from, to, new, removed, changed}
 *   GET  /api/configs/:id/latest          {latest: {branch, rev, describe, commit} | null, new, removed, changed}: what upgrading to the branch head would change (nothing stored)
 */
export function registerUpgradeRoutes(router: Router, kbs: UpgradeDeps & Parameters<typeof newerOnBranch>[0] & { presets: PresetService }): void {
  router.post("/api/configs/:id/upgrade", async ({ req, params }) => {
    const body = await readJson(req, UpgradeBody, 4096);
    const out = await upgradeConfig(kbs, params.id!, body.rev);
    // The board's flashing lines still apply to the upgraded config.
    const { presets } = kbs;
    if (presets.origin(params.id!) && out.configId !== params.id) presets.link(out.configId!, params.id!, kbs.configs.require(params.id!).project);
    return new Reply(201, out satisfies UpgradedConfig);
  });

  router.get("/api/configs/:id/latest", async ({ params }): Promise<LatestRevision> => {
    const c = kbs.configs.require(params.id!);
    const newer = await newerOnBranch(kbs, c);
    if (!newer) return { latest: null, new: [], removed: [], changed: [] };
    const preview = await upgradeConfig(kbs, c.id, newer.revision.sha, { store: false });
    const latest = { branch: newer.branch, rev: newer.branch, describe: newer.revision.describe, commit: newer.revision.sha };
    return { latest, new: preview.new, removed: preview.removed, changed: preview.changed };
  });
}
