import fs from "node:fs";
import path from "node:path";
import { parseTar } from "../core/tar";

/** A `source`/`rsource` line naming a file the kconfig tree lacks. */
export interface MissingSource {
  /** The Kconfig file and line that sources it. */
  from: string;
  line: number;
  /** The path it names, as resolved against the tree root. */
  path: string;
}

const SOURCE = /^\s*(source|rsource)\s+"([^"]+)"/;

/**
 * Follow the `source` lines from the entry through a kconfig bundle and return those
 * naming a file the bundle does not have: the recipe's kconfigPaths miss it (or the
 * tree is broken), and every Kconfig run on that tree would fail. Paths with `$` depend
 * on the environment or on files the Makefile generates, and `osource` is optional:
 * both are left to the tree's own tools.
 */
export function missingSources(bundleFile: string, entry: string): MissingSource[] {
  const files = new Map<string, Buffer>();
  for (const e of parseTar(fs.readFileSync(bundleFile))) if (e.type === "file") files.set(e.path.replace(/^\.\//, ""), e.data);
  const missing: MissingSource[] = [];
  const seen = new Set<string>();
  const walk = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = files.get(file);
    if (!text) return;
    text
      .toString("utf8")
      .split("\n")
      .forEach((l, i) => {
        const m = SOURCE.exec(l);
        if (!m || m[2]!.includes("$")) return;
        const target = path.posix.normalize(m[1] === "rsource" ? path.posix.join(path.posix.dirname(file), m[2]!) : m[2]!);
        if (files.has(target)) walk(target);
        else missing.push({ from: file, line: i + 1, path: target });
      });
  };
  walk(entry);
  return missing;
}
