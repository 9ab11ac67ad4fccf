import type { FlashGuidance, PresetOrigin } from "../../contracts/api";
import { apiPath } from "../../contracts/urls";
import type { FlashRule, Recipe } from "../core/recipe";
import { parseConfig } from "../configs/parse";

/** Config values by symbol name (without CONFIG_), strings unquoted. */
const values = (configText: string): Map<string, string> => parseConfig(configText).entries;

/** Hex values compare by number (0x8000000 = 0x08000000). */
function same(a: string | undefined, b: string): boolean {
  if (a === undefined) return b === "n" || b === "";
  if (/^0x[0-9a-f]+$/i.test(a) && /^0x[0-9a-f]+$/i.test(b)) return BigInt(a) === BigInt(b);
  return a === b;
}

function holds(cond: string, vals: Map<string, string>): boolean {
  const m = /^([A-Za-z0-9_]+)(!?)=(.*)$/.exec(cond)!;
  const eq = same(vals.get(m[1]!), m[3]!);
  return m[2] ? !eq : eq;
}

const fill = (s: string, vals: Map<string, string>) => s.replace(/\{([A-Z0-9_]+)\}/g, (all, sym: string) => vals.get(sym) ?? all);

/**
 * The guidance for one build: the board file's flashing lines when the config came from a
 * board preset, else the recipe's first rule that holds for the config, with its values
 * filled in. Downloads carry the name the board expects.
 */
export function flashGuidance(opts: { buildId: string; recipe: Recipe; configText: string; artifacts: string[]; origin?: PresetOrigin }): FlashGuidance {
  const vals = values(opts.configText);
  const rule: FlashRule | undefined = opts.recipe.flash.find((r) => r.when.every((c) => holds(c, vals)));
  const url = (artifact: string, saveAs: string) => apiPath.artifact(opts.buildId, artifact, { as: saveAs });
  const have = (name: string) => opts.artifacts.includes(name);
  if (opts.origin && opts.origin.flash.lines.length) {
    const saveAs = opts.origin.flash.saveAs;
    // The board file names the output it copies ("out/klipper.bin"); offer that one under the board's name.
    const named = opts.origin.flash.lines.join(" ").match(/out\/([A-Za-z0-9_.-]+\.(?:bin|uf2|hex|elf))/)?.[1];
    const artifact = [named, rule?.artifact].find((a): a is string => !!a && have(a));
    return {
      source: "board",
      board: { file: opts.origin.file, title: opts.origin.title },
      text: opts.origin.flash.lines,
      commands: [],
      downloads: artifact ? [{ artifact, saveAs: saveAs ?? artifact, url: url(artifact, saveAs ?? artifact) }] : [],
    };
  }
  if (!rule) return { source: "none", text: [], commands: [], downloads: [] };
  const saveAs = opts.origin?.flash.saveAs ?? rule.saveAs ?? rule.artifact;
  return {
    source: "config",
    board: opts.origin && { file: opts.origin.file, title: opts.origin.title },
    text: rule.text.map((t) => fill(t, vals)),
    commands: rule.commands.map((c) => fill(c, vals)),
    downloads: have(rule.artifact) ? [{ artifact: rule.artifact, saveAs, url: url(rule.artifact, saveAs) }] : [],
  };
}
