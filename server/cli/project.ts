import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { CliError } from "../cli";
import { HttpError } from "../http/errors";
import { createKbs, type Kbs } from "../kbs";
import type { Upstream } from "../projects/registry";
import { loadSettings } from "../settings";

const usage = "usage: kbs project add <id> --recipe R (--url U | --tarball F --rev-name N) [--name NAME]\n       kbs project list [--json]";

/** A local path given as --url becomes absolute, so the upstream does not depend on where kbs ran. */
function normaliseUrl(url: string): string {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url) || /^[^/]+@[^/]+:/.test(url)) return url;
  return fs.existsSync(url) ? path.resolve(url) : url;
}

async function add(kbs: Kbs, argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { recipe: { type: "string" }, url: { type: "string" }, tarball: { type: "string" }, "rev-name": { type: "string" }, name: { type: "string" } },
  });
  const [id, ...extra] = positionals;
  if (!id || extra.length || !values.recipe) throw new CliError(usage);
  if (!!values.url === !!values.tarball) throw new CliError(`kbs project add: give exactly one of --url or --tarball\n${usage}`);
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
  const project = kbs.projects.add({ id, name: values.name, recipe: values.recipe, upstream });
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

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== "add" && sub !== "list") throw new CliError(usage);
  const kbs = await createKbs(loadSettings());
  try {
    return sub === "add" ? await add(kbs, rest) : list(kbs, rest);
  } catch (e) {
    if (e instanceof HttpError) throw new CliError(`kbs project ${sub}: ${e.message}`);
    throw e;
  } finally {
    await kbs.close();
  }
}
