import { z } from "zod";
import type { BuildService } from "../../builds/service";
import type { KconfigTools } from "../../configs/kconfig-tools";
import type { ConfigStore } from "../../configs/store";
import type { CreatedPresetConfig, FlashGuidance, PresetDetails, PresetOrigin, PresetSummary } from "../../../contracts/api";
import { flashGuidance } from "../../presets/flash";
import type { PresetService } from "../../presets/service";
import type { ProjectRegistry } from "../../projects/registry";
import { notFound } from "../errors";
import { readJson, readQuery, Reply, type Router } from "../router";

const ListQuery = z.object({
  q: z.string().max(200, "q is at most 200 characters").optional(),
  limit: z.coerce.number({ error: "limit must be a number" }).int().min(1, "limit must be at least 1").max(5000).default(500),
});
const PostPreset = z.object({
  project: z.string().min(1).max(100),
  rev: z.string().min(1).max(300),
  preset: z.string().min(1).max(300),
  answers: z.record(z.string().max(100), z.string().max(200)).optional(),
});

const LinkPreset = z.object({ from: z.string().regex(/^[0-9a-f]{64}$/, "must be a config id (64 hex digits)") });

/**
 * Board presets (DESIGN.md "HTTP API"):
 *   GET  /api/projects/:id/revisions/:rev/presets?q=        [{id, title, file, mcu, complete, questions}]
 *   GET  /api/projects/:id/revisions/:rev/presets/:preset   one preset with its header, flashing lines and matches
 *   POST /api/presets {project, rev, preset, answers?}      201 {configId, complete, questions}
 *   GET  /api/configs/:id/preset                            the board file a config was made from
 *   GET  /api/builds/:id/flash                              how to flash it: the board file's lines, else the recipe's rule for the config
 *   POST /api/configs/:id/preset {from}                     a config saved in a session begun from preset config `from` keeps its origin
 */
export function registerPresetRoutes(router: Router, kbs: { presets: PresetService; projects: ProjectRegistry; configs: ConfigStore; builds: BuildService; kconfig: KconfigTools }): void {
  const { presets } = kbs;

  router.get("/api/projects/:id/revisions/:rev/presets", async ({ params, url }): Promise<PresetSummary[]> => {
    const { q, limit } = readQuery(url, ListQuery);
    return presets.list(params.id!, params.rev!, q, limit);
  });

  router.get("/api/projects/:id/revisions/:rev/presets/:preset", async ({ params }): Promise<PresetDetails> => {
    const { assignments: _a, badAnswers: _b, status: _s, ...p } = await presets.get(params.id!, params.rev!, params.preset!);
    return p;
  });

  router.post("/api/presets", async ({ req }) => {
    const body = await readJson(req, PostPreset, 64 * 1024);
    const out = await presets.create(body);
    return new Reply(out.created ? 201 : 200, { configId: out.configId, preset: out.preset.id, complete: out.preset.complete, questions: out.preset.questions, matched: out.preset.matched } satisfies CreatedPresetConfig);
  });

  router.post("/api/configs/:id/preset", async ({ req, params }): Promise<PresetOrigin> => {
    const body = await readJson(req, LinkPreset, 4096);
    const c = kbs.configs.require(params.id!);
    kbs.configs.require(body.from);
    return presets.link(c.id, body.from, c.project);
  });

  router.get("/api/builds/:id/flash", async ({ params }): Promise<FlashGuidance> => {
    const b = kbs.builds.require(params.id!);
    const { recipe } = kbs.projects.require(b.project);
    const config = kbs.configs.require(b.configId);
    // The values the build used: the stored config with the tree's defaults filled in (as the build's olddefconfig does).
    const full = await kbs.kconfig.olddefconfig(b.project, config, config.text);
    return flashGuidance({ buildId: b.id, recipe, configText: full, artifacts: b.artifacts.map((a) => a.name), origin: presets.origin(b.configId) });
  });

  router.get("/api/configs/:id/preset", ({ params }): PresetOrigin => {
    const c = kbs.configs.require(params.id!);
    const origin = presets.origin(c.id);
    if (!origin) throw notFound("no_preset", "This config was not made from a board preset.");
    return origin;
  });
}
