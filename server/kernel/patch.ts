import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { run } from "../core/proc";
import { procEnv } from "../core/settings";

/**
 * Diffs and mail-ready patches of one file, made by real diff(1) and git on
 * data only (two texts), in a scratch directory: the patch is exactly what
 * `git format-patch` writes, so `git am` applies it and the index line names the
 * same blob ids as the kernel tree's.
 */

export interface Author {
  name: string;
  email: string;
}

export const kbsAuthor: Author = { name: "kbs", email: "kbs@localhost" };

async function scratch<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kbs-patch-"));
  try {
    return await fn(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** A unified diff (`diff -u`) from `a/<label>` to `b/<label>`; "" when equal. */
export function unifiedDiff(oldText: string, newText: string, oldLabel: string, newLabel: string): Promise<string> {
  return scratch(async (dir) => {
    fs.writeFileSync(path.join(dir, "old"), oldText);
    fs.writeFileSync(path.join(dir, "new"), newText);
    const r = await run("diff", ["-u", "--label", oldLabel, "--label", newLabel, "old", "new"], { cwd: dir, timeoutMs: 30_000 });
    if (r.code !== 0 && r.code !== 1) throw new Error(`diff failed: ${r.stderr.toString().trim()}`);
    return r.stdout.toString("utf8");
  });
}

export interface PatchInput {
  /** The file's path in the tree, e.g. arch/x86/configs/x86_64_defconfig. */
  file: string;
  oldText: string;
  newText: string;
  subject: string;
  body: string;
  author?: Author;
  date?: Date;
}

/** A `git format-patch` patch replacing `file`'s text; "" when the texts are equal. */
export function formatPatch(p: PatchInput): Promise<string> {
  if (p.oldText === p.newText) return Promise.resolve("");
  const author = p.author ?? kbsAuthor;
  const date = `${Math.floor((p.date ?? new Date()).getTime() / 1000)} +0000`;
  return scratch(async (dir) => {
    const env = procEnv({
      PATH: process.env.PATH,
      HOME: dir,
      GIT_CONFIG_NOSYSTEM: "1",
      GIT_AUTHOR_NAME: author.name,
      GIT_AUTHOR_EMAIL: author.email,
      GIT_COMMITTER_NAME: author.name,
      GIT_COMMITTER_EMAIL: author.email,
      GIT_AUTHOR_DATE: date,
      GIT_COMMITTER_DATE: date,
    });
    const git = async (args: string[], input?: string) => {
      const r = await run("git", ["-c", "core.autocrlf=false", ...args], { cwd: dir, env, input, timeoutMs: 30_000 });
      if (r.code !== 0) throw new Error(`git ${args[0]} failed: ${r.stderr.toString().trim()}`);
      return r.stdout.toString("utf8");
    };
    const target = path.join(dir, "tree", p.file);
    await git(["init", "-q", "tree"]);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, p.oldText);
    const inTree = (args: string[], input?: string) => git(["-C", "tree", ...args], input);
    await inTree(["add", "--", p.file]);
    await inTree(["commit", "-q", "-m", "base"]);
    fs.writeFileSync(target, p.newText);
    await inTree(["commit", "-q", "-a", "-F", "-"], `${p.subject}\n\n${p.body}\n`);
    return inTree(["format-patch", "-1", "--stdout", "--no-signature"]);
  });
}
