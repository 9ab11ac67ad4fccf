import { invalid, unprocessable } from "../core/errors";
import type { Recipe } from "../core/recipe";
import { GitError, gitText } from "../gitref/git";
import type { GitRef } from "../gitref/gitref";
import { lsTreeKconfig } from "../revdb/indexer";
import { pathMatcher, type KconfigEntry } from "../revdb/kconfig-tree";

/**
 * A project's external trees (recipe `externals`, Buildroot's BR2_EXTERNAL): other git
 * repositories, each at a revision of its own. Their kconfig files join every commit's
 * kconfig tree under `external/<name>/` (as entries the recipe adds, like its extra
 * files: so in the kconfig hash and the bundle), where every Kconfig run, which has the
 * tree at /work, finds them; a build unpacks each whole at the same path.
 */
export interface External {
  name: string;
  url: string;
  /** As given: a tag, a branch or a commit. */
  rev: string;
  /** What `rev` was at the last sync (or at add time). */
  commit: string;
}

/** Where external trees sit in the kconfig tree, and (under /work) in every sandbox. */
export const EXTERNALS_DIR = "external";
const NAME = /^[A-Za-z0-9_]{1,40}$/;

/** `NAME=URL@REV` as given to `kbs project add --external`. */
export function parseExternalSpec(spec: string): Omit<External, "commit"> {
  const eq = spec.indexOf("=");
  const at = spec.lastIndexOf("@");
  const name = spec.slice(0, eq);
  if (eq < 1 || at < eq + 2 || at === spec.length - 1) throw invalid("bad_external", `'${spec}' is not NAME=URL@REV (e.g. mytree=https://example.com/br2-mytree.git@v1.0).`);
  if (!NAME.test(name)) throw invalid("bad_external", `External tree name '${name}': use 1-40 letters, digits and _.`);
  return { name, url: spec.slice(eq + 1, at), rev: spec.slice(at + 1) };
}

/** The gitref namespace of a project's external tree (a '.' no project id has). */
export const externalRefId = (projectId: string, name: string) => `${projectId}.external.${name}`;

/**
 * Fetch an external tree into the mirror and resolve its revision; refuse one that is not
 * an external tree of the recipe's kind (no marker file at the root).
 */
export async function resolveExternal(gitref: GitRef, projectId: string, recipe: Recipe, ext: Omit<External, "commit">): Promise<External> {
  const spec = recipe.externals;
  if (!spec) throw invalid("no_externals", `The '${recipe.id}' recipe takes no external trees.`);
  const refId = externalRefId(projectId, ext.name);
  let refs;
  try {
    ({ refs } = await gitref.fetch(refId, ext.url));
  } catch (e) {
    if (e instanceof GitError) throw unprocessable("external_unreachable", `External tree '${ext.name}': cannot fetch ${ext.url}: ${e.message.replace(/^git fetch: /, "")}`);
    throw e;
  }
  const named = refs.find((r) => r.kind === "tag" && r.name === ext.rev) ?? refs.find((r) => r.kind === "branch" && r.name === ext.rev);
  const commit =
    named?.commit ??
    (/^[0-9a-f]{7,40}$/.test(ext.rev) ? await gitText(gitref.dir, ["rev-parse", "--verify", "--quiet", "--end-of-options", `${ext.rev}^{commit}`]).then((s) => s.trim(), () => undefined) : undefined);
  if (!commit) throw unprocessable("bad_external", `External tree '${ext.name}': ${ext.url} has no tag, branch or commit '${ext.rev}'.`);
  if (!(await gitref.hasPath(commit, spec.marker)))
    throw unprocessable("not_an_external", `External tree '${ext.name}': ${ext.url} at ${ext.rev} has no ${spec.marker} at its root, so it is not a ${recipe.name} external tree.`);
  return { ...ext, commit };
}

/** The external trees' kconfig files as entries of the kconfig tree (under external/<name>/), sorted. */
export async function externalEntries(gitref: GitRef, recipe: Recipe, externals: External[]): Promise<KconfigEntry[]> {
  if (!recipe.externals || !externals.length) return [];
  const matches = pathMatcher(recipe.externals.kconfigPaths);
  const out: KconfigEntry[] = [];
  for (const ext of externals) {
    for (const e of (await lsTreeKconfig(gitref.dir, ext.commit, matches)).values()) out.push({ ...e, path: `${EXTERNALS_DIR}/${ext.name}/${e.path}`, extra: true });
  }
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** `<var>=/work/external/<a>:/work/external/<b>` for every Kconfig run and build of the project. */
export function externalsEnv(recipe: Recipe, externals: Array<Pick<External, "name">>): Record<string, string> {
  if (!recipe.externals || !externals.length) return {};
  return { [recipe.externals.var]: externals.map((e) => `/work/${EXTERNALS_DIR}/${e.name}`).join(recipe.externals.separator) };
}
