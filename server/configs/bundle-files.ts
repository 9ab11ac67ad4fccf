import { run } from "../core/proc";

/**
 * The file list of a kconfig bundle tar, read once per bundle (bundles are content
 * addressed and never change), so frontends can be chosen by what the tree ships.
 */
const listings = new Map<string, Promise<Set<string>>>();

export function bundleFiles(tarPath: string): Promise<Set<string>> {
  let p = listings.get(tarPath);
  if (!p) {
    p = run("tar", ["-tf", tarPath], { timeoutMs: 30_000 }).then((r) => {
      if (r.code !== 0) throw new Error(`cannot list kconfig bundle ${tarPath}: ${r.stderr.toString().trim()}`);
      return new Set(r.stdout.toString().split("\n").filter(Boolean).map((f) => f.replace(/^\.\//, "")));
    });
    p.catch(() => listings.delete(tarPath));
    listings.set(tarPath, p);
  }
  return p;
}
