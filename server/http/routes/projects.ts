import { z } from "zod";
import type { Project, ProjectRegistry } from "../../projects/registry";
import type { SyncService } from "../../projects/sync";
import type { RevDb } from "../../revdb/revdb";
import type { Revision } from "../../core/revision";
import type { ProjectSummary, Revision as RevisionView, SyncStarted } from "../../../contracts/api";
import { readQuery, Reply, type Router } from "../router";

/** A project as the API shows it: the recipe by id, with what the chooser needs from it. */
function projectJson(p: Project): ProjectSummary {
  const up = p.upstream;
  return {
    id: p.id,
    name: p.name,
    recipe: p.recipe.id,
    frontend: p.recipe.frontend,
    arches: p.recipe.arches,
    presets: !!p.recipe.presets,
    upstream: up.kind === "git" ? { kind: up.kind, url: up.url } : up.kind === "tarball" ? { kind: up.kind, revName: up.revName } : { kind: up.kind, version: up.version },
    revisions: p.revisionCount,
    sync: p.sync,
  };
}

const revisionJson = ({ project: _project, ...r }: Revision): RevisionView => r;

const RevisionsQuery = z.object({
  q: z.string().max(200, "q is at most 200 characters").optional(),
  limit: z.coerce.number({ error: "limit must be a number" }).int("limit must be a whole number").min(1, "limit must be at least 1").max(1_000_000).default(100),
});

/** GET /api/projects, revisions of a project, one revision, and POST .../sync (DESIGN.md "HTTP API"). */
export function registerProjectRoutes(router: Router, kbs: { projects: ProjectRegistry; revdb: RevDb; sync: SyncService }): void {
  router.get("/api/projects", () => kbs.projects.list().map(projectJson));
  router.get("/api/projects/:id", ({ params }) => projectJson(kbs.projects.require(params.id!)));
  router.get("/api/projects/:id/revisions", ({ params, url }) => {
    const project = kbs.projects.require(params.id!);
    const { q, limit } = readQuery(url, RevisionsQuery);
    return kbs.revdb.list(project.id, { q, limit }).map(revisionJson);
  });
  router.get("/api/projects/:id/revisions/:rev", ({ params }) => {
    const project = kbs.projects.require(params.id!);
    return revisionJson(kbs.revdb.resolve(project.id, params.rev!));
  });
  router.post("/api/projects/:id/sync", async ({ params }) => {
    const project = kbs.projects.require(params.id!);
    void kbs.sync.start(project.id);
    return new Reply(202, { id: project.id, sync: kbs.projects.require(project.id).sync } satisfies SyncStarted);
  });
}
