import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { log } from "../core/log";
import { loadRecipes } from "../core/recipe";
import { ProjectIdSchema, type ProjectRegistry } from "./registry";
import { builtinSourceHash, SyncBusyError, type SyncService } from "./sync";

export const builtinRoot = path.join(path.dirname(fileURLToPath(import.meta.url)), "builtin");

/** `server/projects/builtin/<dir>/project.json`: what makes a directory a built-in project. */
const BuiltinSchema = z.object({
  id: ProjectIdSchema,
  name: z.string().min(1),
  recipe: z.string().min(1),
  version: z.number().int().positive().default(1),
});

export interface Builtin extends z.infer<typeof BuiltinSchema> {
  dir: string;
}

/** The upstreams kbs pre-registers by URL (synced in the background by `kbs serve`): each recipe's `preregister`. */
export function preregisteredUpstreams(): Array<{ id: string; name: string; recipe: string; url: string }> {
  return [...loadRecipes().values()].flatMap((r) => (r.preregister ? [{ ...r.preregister, recipe: r.id }] : []));
}

export function discoverBuiltins(root = builtinRoot): Builtin[] {
  const out: Builtin[] = [];
  for (const d of fs.readdirSync(root, { withFileTypes: true }).filter((d) => d.isDirectory()).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const file = path.join(root, d.name, "project.json");
    if (!fs.existsSync(file)) continue;
    const parsed = BuiltinSchema.safeParse(JSON.parse(fs.readFileSync(file, "utf8")));
    if (!parsed.success) throw new Error(`${file}: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
    out.push({ ...parsed.data, dir: path.join(root, d.name) });
  }
  return out;
}

/**
 * Register the built-ins and import each tree into gitref and the index, offline.
 * An unchanged tree (same files, same version, last sync ok) costs a hash of a few
 * files and no git at all; a process that finds another importing waits for it.
 */
export async function ensureBuiltins(projects: ProjectRegistry, sync: SyncService, root = builtinRoot): Promise<void> {
  for (const b of discoverBuiltins(root)) {
    try {
      projects.ensure({ id: b.id, name: b.name, recipe: b.recipe, upstream: { kind: "builtin", dir: b.dir, version: b.version } }, { update: true });
      const hash = await builtinSourceHash(b.dir, b.version);
      for (let attempt = 0; attempt < 3; attempt++) {
        const p = projects.require(b.id);
        if (projects.sourceHash(b.id) === hash && p.sync.state === "ok") break;
        try {
          await sync.sync(b.id);
          break;
        } catch (e) {
          if (!(e instanceof SyncBusyError)) throw e;
          await sync.waitIdle(b.id);
        }
      }
    } catch (e) {
      log.error({ project: b.id, err: (e as Error).message }, "built-in project could not be imported");
    }
  }
}

/** Pre-register the recipes' upstreams by URL (once; a user's later changes, a removal included, stay). Returns the ids registered. */
export function registerUpstreams(projects: ProjectRegistry): string[] {
  const ids: string[] = [];
  for (const u of preregisteredUpstreams()) {
    projects.ensure({ id: u.id, name: u.name, recipe: u.recipe, upstream: { kind: "git", url: u.url } }, { update: false });
    if (projects.get(u.id)) ids.push(u.id);
  }
  return ids;
}
