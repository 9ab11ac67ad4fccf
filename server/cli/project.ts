import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { CliError, UsageError } from "./exit";
import { createKbs, type Kbs } from "../kbs";
import type { Upstream } from "../projects/registry";
import { removeProject } from "../projects/remove";
import { externalRefId, parseExternalSpec, resolveExternal, type External } from "../projects/externals";
import { getRecipe } from "../core/recipe";
import { KbsError } from "../core/errors";
import { loadSettings } from "../core/settings";

const subUsage: Record<string, string> = {
  add: "kbs project add <id> --recipe R (--url U | --tarball F --rev-name N) [--name NAME] [--external NAME=URL@REV ...]   --external: an external tree (recipe 'externals'), a git URL or path at a tag, branch or commit; repeatable",
  list: "kbs project list [--json]",
  remove: "kbs project remove <id>   its mirror refs, index and kconfig bundles (saved configs and builds stay readable)",
  "set-url": "kbs project set-url <id> <url>   fetch from another git URL or path (a local mirror) from the next sync on",
};

/** The sub-verb's usage when one is named, else all of them. */
export function usage(argv: string[]): string {
  const sub = Object.hasOwn(subUsage, argv[0] ?? "") ? subUsage[argv[0]!] : undefined;
  return sub ? `usage: ${sub}` : `usage: ${Object.values(subUsage).join("\n       ")}`;
}

/** A local path given as --url becomes absolute, so the upstream does not depend on where kbs ran. */
function normaliseUrl(url: string): string {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url) || /^[^/]+@[^/]+:/.test(url)) return url;
  return fs.existsSync(url) ? path.resolve(url) : url;
}

async function add(kbs: Kbs, argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { recipe: { type: "string" }, url: { type: "string" }, tarball: { type: "string" }, "rev-name": { type: "string" }, name: { type: "string" }, external: { type: "string", multiple: true } },
  });
  const [id, ...extra] = positionals;
  if (!id || extra.length || !values.recipe) throw new UsageError(!id ? "give a project id" : extra.length ? "too many arguments" : "--recipe is required");
  if (!!values.url === !!values.tarball) throw new UsageError("give exactly one of --url or --tarball");
  if (values.tarball && !values["rev-name"]) throw new CliError("kbs project add: --tarball needs --rev-name (the tag the tarball's tree gets, e.g. v6.1)");
  let upstream: Upstream;
  if (values.url) {
    upstream = { kind: "git", url: normaliseUrl(values.url) };
    try {
      await kbs.gitref.probe(upstream.url);
    } catch (e) {
      throw new CliError(`kbs project add: ${(e as Error).message}`);
    }
  } else {
    const file = path.resolve(values.tarball!);
    if (!fs.existsSync(file)) throw new CliError(`kbs project add: no such file: ${file}`);
    upstream = { kind: "tarball", path: file, revName: values["rev-name"]! };
  }
  const externals = await addExternals(kbs, id, values.recipe, values.external ?? []);
  const project = kbs.projects.add({ id, name: values.name, recipe: values.recipe, upstream, externals });
  if (upstream.kind === "tarball") {
    // The tarball is the whole upstream: import it now, and refuse it (registering nothing) if it is not a source tree.
    process.stdout.write(`importing ${upstream.path} as ${id} ${upstream.revName}…\n`);
    try {
      await kbs.sync.sync(id);
    } catch (e) {
      kbs.projects.remove(id);
      throw new CliError(`kbs project add: ${(e as Error).message}`);
    }
    process.stdout.write(`added ${id} (${project.recipe.id}), ${kbs.revdb.count(id)} revision(s) indexed\n`);
  } else {
    process.stdout.write(`added ${id} (${project.recipe.id}) from ${upstream.url}; now run: kbs sync ${id}\n`);
  }
  return 0;
}

/** Each `--external NAME=URL@REV`, fetched and checked to be an external tree of the recipe's kind; a refused one leaves nothing behind. */
async function addExternals(kbs: Kbs, id: string, recipeId: string, specs: string[]): Promise<External[]> {
  if (!specs.length) return [];
  if (kbs.projects.get(id)) return []; // projects.add refuses the taken id
  const recipe = getRecipe(recipeId);
  if (!recipe) return []; // projects.add names the recipes there are
  const out: External[] = [];
  try {
    for (const spec of specs) {
      const given = parseExternalSpec(spec);
      if (out.some((e) => e.name === given.name)) throw new CliError(`kbs project add: two external trees are named '${given.name}'`);
      out.push(await resolveExternal(kbs.gitref, id, recipe, { ...given, url: normaliseUrl(given.url) }));
    }
  } catch (e) {
    for (const spec of specs) await kbs.gitref.removeRefs(externalRefId(id, spec.slice(0, Math.max(0, spec.indexOf("="))))).catch(() => 0);
    throw e instanceof KbsError ? new CliError(`kbs project add: ${e.message}`) : e;
  }
  for (const e of out) process.stdout.write(`external tree ${e.name}: ${e.url} at ${e.rev} (${e.commit.slice(0, 12)})\n`);
  return out;
}

function list(kbs: Kbs, argv: string[]): number {
  const { values } = parseArgs({ args: argv, options: { json: { type: "boolean" } } });
  const projects = kbs.projects.list();
  if (values.json) {
    process.stdout.write(JSON.stringify(projects.map((p) => ({ id: p.id, name: p.name, recipe: p.recipe.id, upstream: p.upstream, revisions: p.revisionCount, sync: p.sync })), null, 2) + "\n");
    return 0;
  }
  const rows = projects.map((p) => {
    const up = p.upstream;
    const source = up.kind === "git" ? up.url : up.kind === "tarball" ? `${up.path} (${up.revName})` : `built-in v${up.version}`;
    return [p.id, p.recipe.id, String(p.revisionCount), p.sync.state + (p.sync.message && p.sync.state === "failed" ? `: ${p.sync.message}` : ""), source];
  });
  const head = ["ID", "RECIPE", "REVISIONS", "SYNC", "UPSTREAM"];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (i < 3 ? r[i]!.length : 0))));
  for (const r of [head, ...rows]) process.stdout.write(r.map((c, i) => (i < 3 ? c.padEnd(widths[i]!) : c)).join("  ") + "\n");
  return 0;
}

async function remove(kbs: Kbs, argv: string[]): Promise<number> {
  const { positionals } = parseArgs({ args: argv, allowPositionals: true, options: {} });
  if (positionals.length !== 1) throw new UsageError(positionals.length ? "too many arguments" : "give a project id");
  const r = await removeProject(kbs, positionals[0]!);
  process.stdout.write(
    `removed ${positionals[0]}: ${r.refs} ref(s), ${r.revisions} indexed revision(s), ${r.bundles} kconfig bundle(s) no other project had; saved configs and builds stay readable${r.configsKept ? ` (${r.configsKept} config(s) got their minimal form now)` : ""}\n`,
  );
  return 0;
}

async function setUrl(kbs: Kbs, argv: string[]): Promise<number> {
  const { positionals } = parseArgs({ args: argv, allowPositionals: true, options: {} });
  if (positionals.length !== 2) throw new UsageError(positionals.length > 2 ? "too many arguments" : "give a project id and a URL");
  const [id, given] = positionals as [string, string];
  kbs.projects.require(id);
  const url = normaliseUrl(given);
  try {
    await kbs.gitref.probe(url);
  } catch (e) {
    throw new CliError(`kbs project set-url: ${(e as Error).message}`);
  }
  kbs.projects.setUrl(id, url);
  process.stdout.write(`${id} now fetches from ${url}; run: kbs sync ${id}\n`);
  return 0;
}

const handlers: Record<string, (kbs: Kbs, argv: string[]) => number | Promise<number>> = { add, list, remove, "set-url": setUrl };
export const subVerbs = Object.keys(handlers);

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  const handler = sub && Object.hasOwn(handlers, sub) ? handlers[sub] : undefined;
  if (!handler) throw new UsageError(sub ? `unknown sub-verb '${sub}'` : "give a sub-verb");
  const kbs = await createKbs(loadSettings());
  try {
    return await handler(kbs, rest);
  } finally {
    await kbs.close();
  }
}
