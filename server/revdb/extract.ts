import fs from "node:fs";
import path from "node:path";
import { parseTar, type TarEntry } from "../core/tar";

export class UnsafeTarError extends Error {}

/** A tar path as a clean relative path, or why it is refused. */
export function safeRelative(p: string): string {
  if (p.startsWith("/")) throw new UnsafeTarError(`refusing absolute path '${p}'`);
  const parts = p.split("/").filter((s) => s && s !== ".");
  if (parts.includes("..")) throw new UnsafeTarError(`refusing path with '..': '${p}'`);
  if (!parts.length) throw new UnsafeTarError(`refusing empty path '${p}'`);
  return parts.join("/");
}

/**
 * Check every entry before writing anything: no absolute paths, no `..`, no links
 * whose target leaves the tree, nothing written through a link, no devices or fifos.
 * Then write. A refused archive leaves `dest` untouched.
 */
export function extractEntries(entries: TarEntry[], dest: string): void {
  const links = new Set<string>();
  const files = new Set<string>();
  const plan: Array<{ rel: string; e: TarEntry }> = [];
  for (const e of entries) {
    const rel = safeRelative(e.path);
    const parents = rel.split("/").slice(0, -1).map((_, i, a) => a.slice(0, i + 1).join("/"));
    const through = parents.find((p) => links.has(p) || files.has(p));
    if (through) throw new UnsafeTarError(`refusing '${e.path}': '${through}' is a link or a file, not a directory`);
    if (e.type === "symlink" || e.type === "hardlink") {
      if (e.linkname.startsWith("/")) throw new UnsafeTarError(`refusing link '${e.path}' to the absolute path '${e.linkname}'`);
      const target = e.type === "symlink" ? path.posix.normalize(path.posix.join(path.posix.dirname(rel), e.linkname)) : path.posix.normalize(e.linkname);
      if (target === ".." || target.startsWith("../")) throw new UnsafeTarError(`refusing link '${e.path}' -> '${e.linkname}': it points outside the tree`);
      if (e.type === "hardlink" && !files.has(safeRelative(e.linkname))) throw new UnsafeTarError(`refusing hard link '${e.path}' to '${e.linkname}', which is not a file earlier in the archive`);
      if (e.type === "symlink") links.add(rel);
      else files.add(rel);
    } else if (e.type === "file") files.add(rel);
    else if (e.type !== "dir") throw new UnsafeTarError(`refusing '${e.path}': ${e.type} entries are not allowed`);
    plan.push({ rel, e });
  }
  fs.mkdirSync(dest, { recursive: true });
  const root = fs.realpathSync(dest);
  for (const { rel, e } of plan) {
    const abs = path.join(root, rel);
    fs.mkdirSync(path.dirname(abs), { recursive: true });
    // What is already on disk must not redirect us either.
    if (!fs.realpathSync(path.dirname(abs)).startsWith(root)) throw new UnsafeTarError(`refusing '${e.path}': its directory leaves ${dest}`);
    const existing = fs.lstatSync(abs, { throwIfNoEntry: false });
    if (existing?.isSymbolicLink()) throw new UnsafeTarError(`refusing '${e.path}': a link is already there`);
    if (e.type === "dir") fs.mkdirSync(abs, { recursive: true });
    else if (e.type === "file") fs.writeFileSync(abs, e.data, { mode: e.mode & 0o111 ? 0o755 : 0o644 });
    else if (e.type === "symlink") fs.symlinkSync(e.linkname, abs);
    else if (e.type === "hardlink") fs.copyFileSync(path.join(root, safeRelative(e.linkname)), abs);
  }
}

/** Safely extract a tar file held on disk (bundles are small: read whole). */
export function extractTarFile(file: string, dest: string): void {
  extractEntries(parseTar(fs.readFileSync(file)), dest);
}
