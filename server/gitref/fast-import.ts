import { spawnGroup } from "../core/proc";
import { GitError, gitEnv, gitMessage, gitText } from "./git";

/** A file to store: path relative to the tree root, git mode, content (a symlink's content is its target). */
export interface TreeFile {
  path: string;
  mode: "100644" | "100755" | "120000";
  data: Buffer;
  /** For hard links: the path of an earlier file with the same content. */
  sameAs?: string;
}

/** fast-import's C-style path quoting (always quoted, so spaces and odd bytes are safe). */
function quotePath(p: string): string {
  let out = '"';
  for (const b of Buffer.from(p, "utf8")) {
    if (b === 0x22) out += '\\"';
    else if (b === 0x5c) out += "\\\\";
    else if (b < 0x20 || b >= 0x7f) out += "\\" + b.toString(8).padStart(3, "0");
    else out += String.fromCharCode(b);
  }
  return out + '"';
}

/**
 * Write files as one parentless commit through `git fast-import` (one process, one
 * pack, no temporary checkout: fast for a 1 GB source tree). Blobs stream in as they
 * are read; the commit is written at the end, so a single top directory can be
 * stripped (`stripTopDir`) once all paths are known. Returns the commit sha.
 */
export async function fastImportCommit(
  gitDir: string,
  ref: string,
  files: AsyncIterable<TreeFile>,
  opts: { ident: string; message: string; stripTopDir?: boolean; checkPaths?: (paths: Set<string>) => void },
): Promise<string> {
  const child = spawnGroup("git", ["--git-dir", gitDir, "fast-import", "--quiet", "--done"], { env: gitEnv(), stdio: ["pipe", "ignore", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => {
    if (stderr.length < 64 * 1024) stderr += d.toString("utf8");
  });
  const exited = new Promise<void>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) => (code === 0 ? resolve() : reject(new GitError(`git fast-import: ${signal ? `killed by ${signal}` : gitMessage(stderr)}`, stderr, code))));
  });
  exited.catch(() => {});
  const stdin = child.stdin!;
  stdin.on("error", () => {});
  const write = (chunk: Buffer | string) =>
    new Promise<void>((resolve, reject) => {
      if (child.exitCode !== null) return reject(new GitError(`git fast-import: ${gitMessage(stderr)}`, stderr, child.exitCode));
      if (stdin.write(chunk)) resolve();
      else {
        const onDrain = () => {
          child.off("close", onClose);
          resolve();
        };
        const onClose = () => {
          stdin.off("drain", onDrain);
          reject(new GitError(`git fast-import: ${gitMessage(stderr)}`, stderr, child.exitCode));
        };
        stdin.once("drain", onDrain);
        child.once("close", onClose);
      }
    });

  const paths: Array<{ path: string; mode: string; mark: number }> = [];
  const markOf = new Map<string, { mark: number; mode: string }>();
  let mark = 0;
  try {
    for await (const f of files) {
      if (f.sameAs !== undefined) {
        const m = markOf.get(f.sameAs);
        if (m) paths.push({ path: f.path, mode: m.mode, mark: m.mark });
        continue;
      }
      mark++;
      await write(`blob\nmark :${mark}\ndata ${f.data.length}\n`);
      await write(f.data);
      await write("\n");
      paths.push({ path: f.path, mode: f.mode, mark });
      markOf.set(f.path, { mark, mode: f.mode });
    }
    if (!paths.length) throw new GitError("nothing to import: no files", "", null);
    const strip = opts.stripTopDir ? commonTopDir(paths.map((p) => p.path)) : undefined;
    const final = paths.map((p) => ({ ...p, path: strip ? p.path.slice(strip.length + 1) : p.path }));
    opts.checkPaths?.(new Set(final.map((p) => p.path)));
    const lines = final.map((p) => `M ${p.mode} :${p.mark} ${quotePath(p.path)}\n`);
    const msg = Buffer.from(opts.message + "\n");
    await write(`commit ${ref}\nauthor ${opts.ident}\ncommitter ${opts.ident}\ndata ${msg.length}\n`);
    await write(msg);
    await write(lines.join("") + "\ndone\n");
    stdin.end();
    await exited;
  } catch (e) {
    child.kill("SIGKILL");
    await exited.catch(() => {});
    throw e;
  }
  return (await gitText(gitDir, ["rev-parse", "--verify", "--end-of-options", `${ref}^{commit}`])).trim();
}

/** The single top directory every path lives under (a source tarball's `linux-6.1/`), if there is one. */
export function commonTopDir(paths: string[]): string | undefined {
  const first = paths[0]?.split("/")[0];
  if (!first || paths.some((p) => !p.startsWith(first + "/"))) return undefined;
  return first;
}
