import { z } from "zod";
import type { KconfigTools } from "../../configs/kconfig-tools";
import type { ConfigStore } from "../../configs/store";
import type { CreatedPrinter, PrinterBuilds, PrinterPartView, PrinterView, UpgradedPrinter } from "../../../contracts/api";
import { flashGuidance } from "../../presets/flash";
import type { PresetService } from "../../presets/service";
import type { PrinterService } from "../../printers/service";
import type { ProjectRegistry } from "../../projects/registry";
import { readJson, Reply, type Router } from "../router";

const PostPrinter = z.object({
  name: z.string().trim().min(1, "name is required").max(100),
  parts: z
    .array(
      z.object({
        role: z.string().trim().min(1).max(40).regex(/^[A-Za-z0-9 _.-]+$/, "a role is a short name such as main, toolhead or host"),
        configId: z.string().regex(/^[0-9a-f]{64}$/, "must be a config id (64 hex digits)"),
      }),
    )
    .min(1, "a printer has at least one part")
    .max(16),
});
const UpgradeAll = z.object({ rev: z.string().min(1).max(300).optional() });

/**
 * Printer profiles (DESIGN.md "HTTP API"):
 *   POST /api/printers {name, parts:[{role, configId}]}   201 {id}
 *   GET  /api/printers/:id                                the parts with their config, last build and flash guidance
 *   POST /api/printers/:id/build                          "Build all": {builds:[{role, id, state}]}
 *   POST /api/printers/:id/upgrade {rev?}                 "Upgrade all": 201 {id, parts:[{role, from, to, new, removed, changed}]} (a new profile)
 */
export function registerPrinterRoutes(router: Router, kbs: { printers: PrinterService; presets: PresetService; projects: ProjectRegistry; configs: ConfigStore; kconfig: KconfigTools }): void {
  const { printers, presets } = kbs;

  router.post("/api/printers", async ({ req }) => {
    const body = await readJson(req, PostPrinter, 16 * 1024);
    return new Reply(201, { id: printers.create(body).id } satisfies CreatedPrinter);
  });

  router.get("/api/printers/:id", async ({ params }): Promise<PrinterView> => {
    const p = printers.require(params.id!);
    const last = printers.lastBuilds(p.id);
    const { recipe } = kbs.projects.require(p.project);
    const parts: PrinterPartView[] = [];
    for (const part of p.parts) {
      const c = kbs.configs.require(part.configId);
      const build = last.get(part.role) ?? null;
      const origin = presets.origin(c.id);
      let flash = null;
      if (build?.state === "succeeded") {
        const full = await kbs.kconfig.olddefconfig(p.project, c, c.text);
        flash = flashGuidance({ buildId: build.id, recipe, configText: full, artifacts: build.artifacts.map((a) => a.name), origin });
      }
      parts.push({ role: part.role, configId: c.id, rev: c.rev, describe: c.describe, commit: c.commit, board: origin ? { file: origin.file, title: origin.title } : null, lastBuild: build && { id: build.id, state: build.state, describe: build.describe }, flash });
    }
    return { id: p.id, name: p.name, project: p.project, upgradedFrom: p.upgradedFrom, createdAt: p.createdAt, parts };
  });

  router.post("/api/printers/:id/build", async ({ req, params }): Promise<PrinterBuilds> => {
    const out = await printers.buildAll(params.id!, req.socket.remoteAddress ?? "unknown");
    return { builds: out.map((b) => ({ role: b.role, id: b.build.id, state: b.build.state })) };
  });

  router.post("/api/printers/:id/upgrade", async ({ req, params }) => {
    const body = await readJson(req, UpgradeAll, 4096);
    const out = await printers.upgradeAll(params.id!, body.rev);
    return new Reply(201, { id: out.printer.id, parts: out.parts } satisfies UpgradedPrinter);
  });
}
