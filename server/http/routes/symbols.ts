import { z } from "zod";
import type { DerivedConfigs } from "../../configs/derived";
import type { ConfigStore } from "../../configs/store";
import type { ProjectRegistry } from "../../projects/registry";
import type { RevDb } from "../../revdb/revdb";
import type { SymbolService } from "../../symbols/service";
import type { ConfigSymbols, SymbolHistory, SymbolLookup, SymbolSearchResult } from "../../../contracts/symbols";
import { readTreeFile } from "../../symbols/tree-files";
import { readQuery, type Router } from "../router";

const Arch = z.string().max(40, "arch is at most 40 characters").optional();

const SearchQuery = z.object({
  q: z.string().max(200, "q is at most 200 characters").default(""),
  limit: z.coerce.number({ error: "limit must be a number" }).int("limit must be a whole number").min(1, "limit must be at least 1").max(1000, "limit is at most 1000").default(50),
  arch: Arch,
});

const LookupQuery = z.object({
  config: z.string().max(100, "config is a 64-hex-digit config id").optional(),
  arch: Arch,
});

const ArchQuery = z.object({ arch: Arch });

/** The symbol explorer (DESIGN.md "HTTP API"): search, one symbol, its history, tree files, and a config's chosen symbols. */
export function registerSymbolRoutes(router: Router, kbs: { symbols: SymbolService; projects: ProjectRegistry; revdb: RevDb; gitref: { dir: string }; configs: ConfigStore; derived: DerivedConfigs }): void {
  const { derived } = kbs;

  router.get("/api/projects/:id/revisions/:rev/symbols", ({ params, url }): Promise<SymbolSearchResult> => {
    const { q, limit, arch } = readQuery(url, SearchQuery);
    return kbs.symbols.search(params.id!, params.rev!, q, limit, arch);
  });

  router.get("/api/projects/:id/revisions/:rev/symbols/:name", ({ params, url }): Promise<SymbolLookup> => {
    const { config, arch } = readQuery(url, LookupQuery);
    return kbs.symbols.lookup(params.id!, params.rev!, params.name!, { configId: config, arch });
  });

  router.get("/api/projects/:id/symbols/:name/history", ({ params, url }): Promise<SymbolHistory> => {
    const { arch } = readQuery(url, ArchQuery);
    return kbs.symbols.history(params.id!, params.name!, arch);
  });

  router.get("/api/projects/:id/revisions/:rev/files/*path", async ({ params, res }) => {
    const project = kbs.projects.require(params.id!);
    const revision = kbs.revdb.resolve(project.id, params.rev!);
    const file = await readTreeFile(kbs.gitref.dir, revision.sha, params.path!);
    res.writeHead(200, {
      "Content-Type": "text/plain; charset=utf-8",
      "Cache-Control": "no-store",
      "X-Content-Type-Options": "nosniff",
      "Content-Security-Policy": "default-src 'none'",
      "X-Kbs-Commit": revision.sha,
      "X-Kbs-Blob": file.blob,
    });
    res.end(file.text);
  });

  /**
   * What a config's user chose (the symbols of its minimal form) and, for every symbol
   * that differs from the defaults, whether it is in the config at all and why it has its value.
   */
  router.get("/api/configs/:id/symbols", async ({ params, url }): Promise<ConfigSymbols> => {
    const { arch } = readQuery(url, ArchQuery);
    const config = kbs.configs.require(params.id!);
    const [d, values] = await Promise.all([derived.get(config), kbs.symbols.configValues(config, arch)]);
    const chosen = new Set(values.chosen);
    return {
      id: config.id,
      project: config.project,
      commit: config.commit,
      chosen: values.chosen,
      changed: d.changed.map((c) => {
        const v = values.symbols[c.symbol];
        return { ...c, chosen: chosen.has(c.symbol), inConfig: v?.inConfig ?? true, why: v?.why ?? null };
      }),
    };
  });
}
