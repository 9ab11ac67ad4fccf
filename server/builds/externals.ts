import fs from "node:fs";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { GUEST_IN } from "../core/guest-paths";
import type { Recipe } from "../core/recipe";
import type { GitRef } from "../gitref/gitref";
import { EXTERNALS_DIR, externalsEnv, type External } from "../projects/externals";
import { shq } from "./script";

/**
 * A build's external trees (recipe `externals`): each whole, from the mirror at the commit
 * the last sync resolved, as a tar in /kbs/in/external/<name>.tar.
 */
export async function stageExternals(gitref: Pick<GitRef, "archive">, externals: External[], inDir: string): Promise<void> {
  if (!externals.length) return;
  fs.mkdirSync(path.join(inDir, EXTERNALS_DIR));
  for (const e of externals) await pipeline(gitref.archive(e.commit), fs.createWriteStream(path.join(inDir, EXTERNALS_DIR, `${e.name}.tar`)));
}

/** Shell for the fetch and build scripts: unpack each at /work/external/<name>, where Kconfig runs have them, and name them to make. */
export function unpackExternals(recipe: Recipe, externals: Array<Pick<External, "name">>): string {
  const lines = externals.map((e) => `mkdir -p /work/${EXTERNALS_DIR}/${e.name} && tar -xf ${GUEST_IN}/${EXTERNALS_DIR}/${e.name}.tar -C /work/${EXTERNALS_DIR}/${e.name} || exit 1`);
  for (const [k, v] of Object.entries(externalsEnv(recipe, externals))) lines.push(`export ${k}=${shq(v)}`);
  return lines.join("\n");
}
