import { z } from "zod";
import type { KernelDefconfigs } from "../../kernel/defconfig";
import { kernelArches, startConfig, type StartDeps } from "../../kernel/start";
import type { ConfigStarted, KernelArches, KernelStarted } from "../../../contracts/api";
import { HttpError } from "../errors";
import { readJson, readQuery, Reply, type Router } from "../router";

/**
 * Defconfig starts and the maintainer flow (DESIGN.md "Who uses it": maintainers editing
 * defconfigs), driven by the recipe's `defconfigs` for every project:
 *   GET  /api/kernel/arches?project=&rev=                     {arches, default}: the ARCH values the tree has
 *   POST /api/configs/start {project, rev, start, variant?}   201 {id, variant?}: a config from make <target>/<name>_defconfig
 *   POST /api/kernel/start {project, rev, arch?, start}       the same (the first name; arch is the variant)
 *   GET  /api/configs/:id/defconfig-diff?against=&arch=       unified diff: against (a defconfig name, or a config id) -> this config's savedefconfig (empty when equal)
 *   GET  /api/configs/:id/defconfig-patch?name=&arch=         git format-patch replacing <defconfigs.dir>/<name>_defconfig
 */
const ArchesQuery = z.object({ project: z.string().min(1).max(100), rev: z.string().min(1).max(300) });
const StartBody = z.object({
  project: z.string().min(1).max(100),
  rev: z.string().min(1).max(300),
  arch: z.string().min(1).max(40).optional(),
  start: z.string().min(1).max(100),
});
const ConfigStartBody = z.object({
  project: z.string().min(1).max(100),
  rev: z.string().min(1).max(300),
  start: z.string().min(1).max(100),
  variant: z.string().min(1).max(40).optional(),
});
const DiffQuery = z.object({ against: z.string().min(1).max(100), arch: z.string().min(1).max(40).optional() });
const PatchQuery = z.object({ name: z.string().min(1).max(100), arch: z.string().min(1).max(40).optional() });

const text = (res: import("node:http").ServerResponse, type: string, body: string, headers: Record<string, string> = {}) => {
  res.writeHead(200, { "Content-Type": `${type}; charset=utf-8`, "Cache-Control": "no-store", ...headers });
  res.end(body);
};

export function registerKernelRoutes(router: Router, kbs: StartDeps & { defconfigs: KernelDefconfigs }): void {
  const { defconfigs } = kbs;

  router.get("/api/kernel/arches", async ({ url }): Promise<KernelArches> => {
    const q = readQuery(url, ArchesQuery);
    const arches = await kernelArches(kbs, q.project, q.rev);
    return { arches, default: arches[0] ?? null };
  });

  router.post("/api/configs/start", async ({ req }) => {
    const { variant, ...body } = await readJson(req, ConfigStartBody, 16 * 1024);
    const out = await startConfig(kbs, { ...body, arch: variant });
    return new Reply(out.created ? 201 : 200, { id: out.id, ...(out.arch ? { variant: out.arch } : {}) } satisfies ConfigStarted);
  });

  router.post("/api/kernel/start", async ({ req }) => {
    const body = await readJson(req, StartBody, 16 * 1024);
    const out = await startConfig(kbs, body);
    return new Reply(out.created ? 201 : 200, { id: out.id, arch: out.arch } satisfies KernelStarted);
  });

  router.get("/api/configs/:id/defconfig-diff", async ({ params, url, res }) => {
    const q = readQuery(url, DiffQuery);
    text(res, "text/x-diff", await defconfigs.diff(params.id!, q.against, q.arch));
  });

  router.get("/api/configs/:id/defconfig-patch", async ({ params, url, res }) => {
    const q = readQuery(url, PatchQuery);
    const { file, patch } = await defconfigs.patch(params.id!, q.name, { arch: q.arch });
    if (!patch) throw new HttpError(409, "no_change", `The config's minimal form is already exactly ${file}; there is nothing to patch.`);
    const name = `0001-update-${file.split("/").pop()}.patch`;
    text(res, "text/x-patch", patch, { "Content-Disposition": `attachment; filename="${name}"` });
  });
}
