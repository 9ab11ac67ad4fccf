import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { parseConfig } from "../configs/parse";
import type { BuildInput, Recipe } from "../core/recipe";
import type { BuildInputRef, BuildRow } from "./types";

/**
 * Build inputs (recipe `build.inputs`): an artifact of an earlier build, named by a config
 * symbol whose value is that build's id (the VM image's kernel). Resolved when the build is
 * requested — the artifact's sha256 goes into the build key — and checked again and handed
 * in read-only under /kbs/in when it runs; a bad id fails the build at step `inputs`.
 */

/** The non-empty values of the recipe's input symbols in a config (as olddefconfig left it). */
export function inputValues(recipe: Recipe, configText: string): Record<string, string> {
  if (!recipe.build.inputs.length) return {};
  const { entries } = parseConfig(configText, recipe.symbolPrefix);
  const out: Record<string, string> = {};
  for (const i of recipe.build.inputs) {
    const v = entries.get(i.symbol)?.trim();
    if (v && v !== "n") out[i.symbol] = v;
  }
  return out;
}

/** Why build `b` (looked up by `id`) cannot be this input, or its artifact's sha256. */
function check(input: BuildInput, id: string, b: BuildRow | undefined): { sha256: string } | { problem: string } {
  if (!b) return { problem: `there is no build ${id} on this portal` };
  if (input.recipe && b.recipe !== input.recipe) {
    return { problem: `build ${id} is a build of project '${b.project}' (recipe ${b.recipe}); ${input.symbol} takes builds of recipe ${input.recipe}` };
  }
  if (input.project && b.project !== input.project) {
    return { problem: `build ${id} is a build of project '${b.project}'; ${input.symbol} takes builds of project '${input.project}'` };
  }
  if (b.state !== "succeeded") {
    const wait = b.state === "queued" || b.state === "running" ? ": wait until it has succeeded, then request this build again" : "";
    return { problem: `build ${id} is ${b.state.replace("_", " ")}, not succeeded${wait}` };
  }
  if (b.expired) return { problem: `build ${id} has expired and its files were removed; build it again and use the new id` };
  const a = b.artifacts.find((x) => x.name === input.artifact);
  if (!a) return { problem: `build ${id} has no artifact '${input.artifact}' (it has: ${b.artifacts.map((x) => x.name).join(", ") || "none"})` };
  return { sha256: a.sha256 };
}

/** Request time: each input the config names, with its artifact's sha256 or the problem with it. */
export function resolveInputs(recipe: Recipe, values: Record<string, string>, builds: { get(id: string): BuildRow | undefined }): BuildInputRef[] {
  return recipe.build.inputs.flatMap((input) => {
    const id = values[input.symbol];
    if (!id) return [];
    const r = check(input, id, builds.get(id));
    return [{ symbol: input.symbol, buildId: id, artifact: input.artifact, path: input.path, sha256: "sha256" in r ? r.sha256 : null, problem: "problem" in r ? r.problem : null }];
  });
}

export class InputError extends Error {}

/**
 * Run time: check each input again (the build may have expired since), copy its stored
 * artifact to `inDir/<path>` while hashing it, and refuse it unless the hash is the one
 * the build was keyed on. Throws InputError naming the symbol, the build id and why.
 */
export async function stageInputs(
  recipe: Recipe,
  inputs: BuildInputRef[],
  builds: { get(id: string): BuildRow | undefined },
  blobPath: (sha256: string) => string,
  inDir: string,
): Promise<Array<{ symbol: string; buildId: string; artifact: string; sha256: string }>> {
  const staged = [];
  for (const ref of inputs) {
    const fail = (why: string) =>
      new InputError(`${ref.symbol}=${ref.buildId}: ${why}. Set ${recipe.symbolPrefix}${ref.symbol} to the id of a succeeded build that has '${ref.artifact}', or leave it empty.`);
    if (ref.problem || !ref.sha256) throw fail(ref.problem ?? "unresolved");
    const input = recipe.build.inputs.find((i) => i.symbol === ref.symbol);
    if (!input) throw fail(`the recipe ${recipe.id} v${recipe.version} takes no input ${ref.symbol}`);
    const now = check(input, ref.buildId, builds.get(ref.buildId));
    if ("problem" in now) throw fail(now.problem);
    if (now.sha256 !== ref.sha256) throw fail(`its artifact changed since this build was requested`);
    const dest = path.join(inDir, ref.path);
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    // The sandbox may run as another uid: every dir on the way stays searchable whatever the umask.
    for (let d = path.dirname(dest); d.startsWith(inDir + path.sep); d = path.dirname(d)) fs.chmodSync(d, 0o755);
    const hash = crypto.createHash("sha256");
    try {
      await pipeline(
        fs.createReadStream(blobPath(ref.sha256)),
        async function* (src: AsyncIterable<Buffer>) {
          for await (const chunk of src) {
            hash.update(chunk);
            yield chunk;
          }
        },
        fs.createWriteStream(dest, { mode: 0o444 }),
      );
    } catch (e) {
      throw fail(`its stored '${ref.artifact}' could not be read (${(e as Error).message})`);
    }
    const got = hash.digest("hex");
    if (got !== ref.sha256) throw fail(`its stored '${ref.artifact}' is damaged (sha256 ${got}, the build recorded ${ref.sha256})`);
    staged.push({ symbol: ref.symbol, buildId: ref.buildId, artifact: ref.artifact, sha256: got });
  }
  return staged;
}
