import { z } from "zod";
import type { DerivedConfigs } from "../../configs/derived";
import { diffConfigs } from "../../configs/diff";
import { MAX_CONFIG_BYTES } from "../../configs/parse";
import { storedConfigRunsCode } from "../../configs/runs-code";
import type { ConfigStore } from "../../configs/store";
import type { ProjectRegistry } from "../../projects/registry";
import type { RevDb } from "../../revdb/revdb";
import type { ConfigDiff, CreatedConfig, StoredConfig } from "../../../contracts/api";
import { HttpError } from "../errors";
import { readJson, readQuery, Reply, type Router } from "../router";

const PostConfig = z.object({
  project: z.string().min(1).max(100),
  rev: z.string().min(1).max(300),
  text: z.string(),
});

const RawQuery = z.object({ form: z.enum(["written", "canonical"]).default("written") });

const plain = (res: import("node:http").ServerResponse, text: string, headers: Record<string, string> = {}) => {
  res.writeHead(200, { "Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store", ...headers });
  res.end(text);
};

/** A file name safe in a Content-Disposition header. */
const fileName = (s: string) => s.replace(/[^A-Za-z0-9._-]+/g, "_").slice(0, 100);

export function registerConfigRoutes(router: Router, kbs: { projects: ProjectRegistry; revdb: RevDb; configs: ConfigStore; derived: DerivedConfigs }): void {
  const { derived } = kbs;

  router.post("/api/configs", async ({ req }) => {
    // JSON escaping can double a config's size; the config's own limit is checked after parsing.
    const body = await readJson(req, PostConfig, 2 * MAX_CONFIG_BYTES + 4096).catch((e: unknown) => {
      if (e instanceof HttpError && e.status === 413) {
        throw new HttpError(413, "config_too_large", `The config is too large; the limit is ${MAX_CONFIG_BYTES} bytes (1 MiB). A .config is normally well under 100 KB: is this the right file?`);
      }
      throw e;
    });
    kbs.projects.require(body.project);
    const revision = kbs.revdb.resolve(body.project, body.rev);
    const out = kbs.configs.put({ project: body.project, commit: revision.sha, rev: body.rev, text: body.text });
    return new Reply(out.created ? 201 : 200, { id: out.id, warnings: out.warnings } satisfies CreatedConfig);
  });

  router.get("/api/configs/:id", async ({ params }): Promise<StoredConfig> => {
    const c = kbs.configs.require(params.id!);
    const [d, written] = await Promise.all([derived.get(c), derived.written(c)]);
    return {
      id: c.id,
      project: c.project,
      rev: c.rev,
      commit: c.commit,
      describe: c.describe,
      kconfigHash: c.kconfigHash,
      createdAt: c.createdAt,
      text: c.text,
      written,
      defconfig: d.defconfig,
      changed: d.changed,
      runsCode: storedConfigRunsCode(c),
    };
  });

  // The .config as the tree's tools write it; ?form=canonical gives the sorted form the id covers.
  router.get("/api/configs/:id/raw", async ({ params, res, url }) => {
    const { form } = readQuery(url, RawQuery);
    const c = kbs.configs.require(params.id!);
    plain(res, form === "canonical" ? c.text : await derived.written(c), { "Content-Disposition": `attachment; filename="${fileName(`${c.project}-${c.describe}`)}.config"` });
  });

  router.get("/api/configs/:id/defconfig", async ({ params, res }) => {
    const c = kbs.configs.require(params.id!);
    const d = await derived.get(c);
    plain(res, d.defconfig, { "Content-Disposition": `inline; filename="${fileName(`${c.project}-${c.describe}`)}_defconfig"` });
  });

  router.get("/api/configs/:a/diff/:b", ({ params }): ConfigDiff => {
    const a = kbs.configs.require(params.a!);
    const b = kbs.configs.require(params.b!);
    return { a: a.id, b: b.id, ...diffConfigs(kbs.configs.parse(a.text, a.project), kbs.configs.parse(b.text, b.project)) };
  });
}
