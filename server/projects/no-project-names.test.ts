import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

/**
 * Projects are data (DESIGN.md "Projects and recipes"): what differs between Klipper,
 * Kalico, Linux and Buildroot lives in server/projects/recipes/*.json, so no code in
 * server/ names them. Comments may (they say why), tests, benches and their fixtures may (they drive
 * those recipes), and a few words that only look like project names are allowed below.
 */
const serverDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const names = /klipper|kalico|linux|buildroot/i;

/** Not project names: the terminfo entry, Debian's kernel package, the OS name in reports. */
// "klipper-header": the id of a board-file header style, which recipes name as data.
const allowed = [/l\/linux/, /linux-image-cloud-amd64/, /os\.type\(\)/, /`Linux \$\{m\.kernel\}`/, /"klipper-header"/];

function codeFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return p === path.join(serverDir, "projects", "recipes") ? [] : codeFiles(p);
    return /\.(ts|py|sh)$/.test(e.name) && !/\.test\.ts$/.test(e.name) && !/(^|\/)(bench[\w-]*|fixtures)(\/|\.ts$)/.test(path.relative(serverDir, p)) ? [p] : [];
  });
}

/** The file without its comments (line comments, block comments, Python/shell # comments), string literals kept. */
function withoutComments(file: string, text: string): string {
  if (file.endsWith(".ts")) return text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'`\\])\/\/.*$/gm, "$1");
  return text.replace(/(^|\s)#(?!!).*$/gm, "$1").replace(/"""[\s\S]*?"""/g, "");
}

describe("no project names in server code", () => {
  it("names no project outside server/projects/recipes/ (comments, tests and benches aside)", () => {
    const hits: string[] = [];
    for (const f of codeFiles(serverDir)) {
      withoutComments(f, fs.readFileSync(f, "utf8"))
        .split("\n")
        .forEach((line, i) => {
          if (names.test(line) && !allowed.some((a) => a.test(line))) hits.push(`${path.relative(serverDir, f)}:${i + 1}: ${line.trim().slice(0, 120)}`);
        });
    }
    expect(hits).toEqual([]);
  });
});
