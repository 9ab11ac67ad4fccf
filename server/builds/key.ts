import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const imagesDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../sandbox-images");

/**
 * An image's identity: its name plus a hash of its definition (sandbox-images/<name>/image.json),
 * so changing what a build image holds changes every key built with it.
 */
export function imageId(name: string): string {
  let def = "";
  try {
    def = fs.readFileSync(path.join(imagesDir, name, "image.json"), "utf8");
  } catch {
    /* an image without a definition file is known by name only */
  }
  return def ? `${name}@${crypto.createHash("sha256").update(def).digest("hex").slice(0, 12)}` : name;
}

export const sha256 = (text: string) => crypto.createHash("sha256").update(text).digest("hex");

/**
 * The build key: equal keys build the same thing, so the second request is served from the first.
 * Inputs (earlier builds' artifacts) count by build id and content: another kernel, another key.
 */
export function buildKey(k: {
  project: string;
  commit: string;
  configHash: string;
  recipe: string;
  recipeVersion: number;
  image: string;
  inputs?: Array<{ symbol: string; buildId: string; sha256: string | null }>;
  /** The project's external trees at their resolved commits: another revision of one, another build. */
  externals?: Array<{ name: string; commit: string }>;
}): string {
  const parts: unknown[] = ["kbs-build-2", k.project, k.commit, k.configHash, k.recipe, k.recipeVersion, k.image];
  if (k.inputs?.length) parts.push(k.inputs.map((i) => [i.symbol, i.buildId, i.sha256 ?? "unresolved"]));
  if (k.externals?.length) parts.push({ externals: k.externals.map((e) => [e.name, e.commit]) });
  return sha256(JSON.stringify(parts));
}
