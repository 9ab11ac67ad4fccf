import path from "node:path";
import { git } from "../gitref/git";
import { KbsError, invalid, notFound, unprocessable } from "../core/errors";

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Files larger than this are not shown (Kconfig files are a few hundred KB at most). */
export const MAX_TREE_FILE_BYTES = 1024 * 1024;

/** A tree path as the API takes it: relative, no `.`/`..` segments, no NUL or backslash. */
export function checkTreePath(p: string): string {
  const bad = () => invalid("bad_path", `'${p.slice(0, 120)}' is not a path inside the tree: give one relative to the tree's root, like src/Kconfig, without '..'.`);
  if (!p || p.length > 4096 || p.includes("\0") || p.includes("\\") || p.startsWith("/")) throw bad();
  const segs = p.split("/");
  if (segs.some((s) => s === "" || s === "." || s === "..")) throw bad();
  if (path.posix.normalize(p) !== p) throw bad();
  return p;
}

/**
 * A file of one commit, read from the project's blobs in the git mirror (never from a
 * checkout): only regular files; symlinks, submodules, directories, binary and huge
 * files are refused with a reason.
 */
export async function readTreeFile(gitDir: string, commit: string, filePath: string): Promise<{ text: string; size: number; blob: string }> {
  checkTreePath(filePath);
  if (!/^[0-9a-f]{40}$/.test(commit)) throw new Error(`readTreeFile: '${commit}' is not a full commit sha`);
  const line = (await git(gitDir, ["ls-tree", "-z", "--long", "--full-tree", commit, "--", filePath])).toString("utf8").split("\0")[0] ?? "";
  const m = /^(\d+) (\w+) ([0-9a-f]+) +(-|\d+)\t(.*)$/s.exec(line);
  if (!m || m[5] !== filePath) throw notFound("unknown_file", `There is no file ${filePath} in commit ${commit.slice(0, 12)}.`);
  const [, mode, type, blob, size] = m;
  if (mode === "120000") throw unprocessable("symlink_refused", `${filePath} is a symbolic link in this commit; only regular files are shown.`);
  if (type !== "blob") throw unprocessable("not_a_file", `${filePath} is a ${type === "tree" ? "directory" : "submodule"} in this commit, not a file.`);
  const bytes = Number(size);
  if (bytes > MAX_TREE_FILE_BYTES) throw new KbsError("too_large", "file_too_large", `${filePath} is ${(bytes / 1024 / 1024).toFixed(1)} MB; files over ${MAX_TREE_FILE_BYTES / 1024 / 1024} MB are not shown.`);
  const data = await git(gitDir, ["cat-file", "blob", blob!]);
  let text: string | undefined;
  try {
    if (!data.subarray(0, 8000).includes(0)) text = utf8.decode(data);
  } catch {
    text = undefined;
  }
  if (text === undefined) throw new KbsError("unsupported", "binary_file", `${filePath} is a binary file (not UTF-8 text); only text files are shown.`);
  return { text, size: bytes, blob: blob! };
}
