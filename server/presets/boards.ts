import { gitText } from "../gitref/git";
import { readBlobs } from "../revdb/bundles";
import { pathMatcher } from "../revdb/kconfig-tree";

/** A board file as handed to the sandbox: its path, git blob id and (the start of) its bytes. */
export interface BoardFile {
  path: string;
  blob: string;
  data: Buffer;
}

/** Only the start of a board file is read: the header parser looks at its leading comments. */
export const BOARD_FILE_BYTES = 64 * 1024;
/** Files larger than this are not read at all (a board file is a few KB). */
const MAX_BOARD_BLOB = 8 * 1024 * 1024;
const MAX_BOARD_FILES = 5000;

/** The directory all of a glob's matches are under ("config" for config/*.cfg; "" when a directory is a wildcard). */
function literalDir(glob: string): string {
  const segs = glob.split("/").slice(0, -1);
  const wild = segs.findIndex((s) => /[*?[]/.test(s));
  return (wild === -1 ? segs : segs.slice(0, wild)).join("/");
}

/** The recipe's board files at a commit: (path, blob) from `git ls-tree`, without reading them. */
export async function listBoardFiles(gitDir: string, commit: string, globs: string[]): Promise<Array<{ path: string; blob: string; size: number }>> {
  const match = pathMatcher(globs);
  // Only the globs' literal leading directories are listed ("config" for config/*.cfg), so a
  // large tree is not walked on every request.
  const dirs = globs.map(literalDir);
  const pathspec = dirs.includes("") ? [] : ["--", ...new Set(dirs)];
  const out = await gitText(gitDir, ["ls-tree", "-r", "-l", "-z", "--full-tree", commit, ...pathspec]);
  const files: Array<{ path: string; blob: string; size: number }> = [];
  for (const rec of out.split("\0")) {
    const m = /^(\d+) (\w+) ([0-9a-f]{40,64}) +(\d+|-)\t(.+)$/s.exec(rec);
    // Regular files only: a symlink among the board files is not followed.
    if (!m || !["100644", "100755"].includes(m[1]!) || m[2] !== "blob" || !match(m[5]!)) continue;
    files.push({ path: m[5]!, blob: m[3]!, size: Number(m[4]) });
    if (files.length >= MAX_BOARD_FILES) break;
  }
  return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** The listed board files' leading bytes; oversized blobs come as empty files (the parser finds no header). */
export async function readBoardFiles(gitDir: string, files: Array<{ path: string; blob: string; size: number }>): Promise<BoardFile[]> {
  const wanted = files.filter((f) => f.size <= MAX_BOARD_BLOB).map((f) => f.blob);
  const blobs = wanted.length ? await readBlobs(gitDir, wanted) : new Map<string, Buffer>();
  return files.map((f) => ({ path: f.path, blob: f.blob, data: (blobs.get(f.blob) ?? Buffer.alloc(0)).subarray(0, BOARD_FILE_BYTES) }));
}
