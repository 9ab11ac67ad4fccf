import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import type { Readable } from "node:stream";
import { spawnGroup } from "../core/proc";
import { readTar, TarFormatError } from "../core/tar";
import type { TreeFile } from "./fast-import";

/** Trees kbs imports as commits: a directory (built-ins) or a source tarball. */

const modeOf = (st: fs.Stats): TreeFile["mode"] => (st.isSymbolicLink() ? "120000" : st.mode & 0o111 ? "100755" : "100644");

/** Every file under `dir` (sorted, symlinks as links), skipping top-level names in `skip`. */
export async function* dirFiles(dir: string, skip: string[] = []): AsyncGenerator<TreeFile> {
  const walk = function* (rel: string): Generator<TreeFile> {
    const entries = fs.readdirSync(path.join(dir, rel), { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const e of entries) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (!rel && skip.includes(e.name)) continue;
      const abs = path.join(dir, p);
      const st = fs.lstatSync(abs);
      if (st.isDirectory()) yield* walk(p);
      else if (st.isSymbolicLink()) yield { path: p, mode: "120000", data: Buffer.from(fs.readlinkSync(abs)) };
      else if (st.isFile()) yield { path: p, mode: modeOf(st), data: fs.readFileSync(abs) };
    }
  };
  yield* walk("");
}

export class NotASourceTree extends Error {}

/** Decompress by magic number: gzip in-process, xz/bzip2/zstd through their tools. */
function openDecompressed(file: string): Readable {
  const fd = fs.openSync(file, "r");
  const head = Buffer.alloc(6);
  fs.readSync(fd, head, 0, 6, 0);
  fs.closeSync(fd);
  const tool =
    head[0] === 0xfd && head.toString("latin1", 1, 5) === "7zXZ" ? "xz" : head.toString("latin1", 0, 3) === "BZh" ? "bzip2" : head.readUInt32LE(0) === 0xfd2fb528 ? "zstd" : undefined;
  if (head[0] === 0x1f && head[1] === 0x8b) return fs.createReadStream(file).pipe(zlib.createGunzip());
  if (!tool) return fs.createReadStream(file);
  const input = fs.openSync(file, "r");
  const child = spawnGroup(tool, ["-dc"], { stdio: [input, "pipe", "ignore"] });
  fs.closeSync(input);
  child.on("error", (e) => child.stdout?.destroy(new NotASourceTree(`cannot decompress ${path.basename(file)}: ${tool} is not available (${e.message})`)));
  child.on("close", (code) => {
    if (code) child.stdout?.destroy(new NotASourceTree(`${path.basename(file)} is not a valid ${tool} archive (${tool} exited with ${code})`));
  });
  return child.stdout!;
}

function cleanPath(p: string, file: string): string | undefined {
  const parts = p.split("/").filter((s) => s && s !== ".");
  if (!parts.length) return undefined;
  if (p.startsWith("/") || parts.includes("..")) throw new NotASourceTree(`${path.basename(file)} contains an unsafe path '${p}': not a source tarball kbs imports`);
  return parts.join("/");
}

/**
 * The files of a source tarball (.tar, .tar.gz, .tar.xz, .tar.bz2, .tar.zst), read as a
 * stream. Symlinks stay links, hard links share the earlier file's blob, devices and
 * fifos are skipped; absolute or `..` paths make the whole tarball refused.
 */
export async function* tarballFiles(file: string): AsyncGenerator<TreeFile> {
  if (!fs.existsSync(file)) throw new NotASourceTree(`no such file: ${file}`);
  const stream = openDecompressed(file);
  try {
    for await (const e of readTar(stream)) {
      const p = cleanPath(e.path, file);
      if (!p) continue;
      if (e.type === "file") yield { path: p, mode: e.mode & 0o111 ? "100755" : "100644", data: e.data };
      else if (e.type === "symlink") yield { path: p, mode: "120000", data: Buffer.from(e.linkname) };
      else if (e.type === "hardlink") {
        const target = cleanPath(e.linkname, file);
        if (target) yield { path: p, mode: "100644", data: Buffer.alloc(0), sameAs: target };
      }
    }
  } catch (e) {
    if (e instanceof TarFormatError) throw new NotASourceTree(`${path.basename(file)} is not a source tarball: ${e.message}`);
    throw e;
  } finally {
    stream.destroy();
  }
}
