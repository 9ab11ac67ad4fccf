import fs from "node:fs";
import path from "node:path";
import { git } from "../gitref/git";
import { extractEntries } from "./extract";
import { gitBlobId, kconfigHash, type KconfigEntry } from "./kconfig-tree";
import { parseTar, writeTar, type TarEntry, type TarWriteEntry } from "../core/tar";
import { KbsError, invalid, notFound } from "../core/errors";

const HASH = /^[0-9a-f]{64}$/;

/** A bundle file's identity: any rewrite changes it, so a file verified with it is still the verified content. */
const identityOf = (st: fs.Stats) => `${st.ino}:${st.size}:${st.mtimeMs}`;

/** (path, git blob id, git mode) of a bundle's entries: what its hash is computed from. */
function entriesOf(tar: TarEntry[]): KconfigEntry[] {
  return tar
    .filter((e) => e.type === "file" || e.type === "symlink")
    .map((e) => {
      const data = e.type === "symlink" ? Buffer.from(e.linkname) : e.data;
      return { path: e.path, mode: e.type === "symlink" ? "120000" : e.mode & 0o111 ? "100755" : "100644", blob: gitBlobId(data) };
    });
}

/** Read blobs from the mirror in one `git cat-file --batch` run. */
export async function readBlobs(gitDir: string, ids: string[]): Promise<Map<string, Buffer>> {
  const unique = [...new Set(ids)];
  const out = await git(gitDir, ["cat-file", "--batch"], { input: unique.join("\n") + "\n" });
  const blobs = new Map<string, Buffer>();
  let pos = 0;
  while (pos < out.length) {
    const nl = out.indexOf(10, pos);
    const [oid, type, size] = out.toString("latin1", pos, nl).split(" ");
    if (type !== "blob") throw new Error(`git object ${oid} is ${type === undefined ? "missing" : type}, expected a blob`);
    const n = Number(size);
    blobs.set(oid!, out.subarray(nl + 1, nl + 1 + n));
    pos = nl + 1 + n + 1;
  }
  return blobs;
}

/**
 * Kconfig-only trees as tars, one per distinct kconfig hash (`data/bundles/<hash>.tar`).
 * Written from git objects, deterministic (sorted, fixed mtime and owner), and checked
 * against their name when written and whenever the file changed since (its identity,
 * inode, size and mtime, is kept in `data/bundles.verified/<hash>`, so a new process, the
 * `kbs serve` after a `kbs sync`, does not hash a Linux tree's 10 MB on its first session).
 */
export class KconfigBundleStore {
  /** hash -> the file identity last verified, so repeated reads of an unchanged file are cheap */
  private verified = new Map<string, string>();
  /** Where each verified identity is kept for the next process. */
  private readonly stamps: string;

  /** Bundles being written on demand, so concurrent asks for one write it once. */
  private making = new Map<string, Promise<void>>();

  constructor(
    readonly dir: string,
    private gitDir: string,
    /** The tree behind a hash and the extra files its recipe adds, for bundles written on demand. */
    private source: (hash: string) => { entries: KconfigEntry[]; extraFiles: Record<string, string> } | undefined,
  ) {
    this.stamps = `${dir}.verified`;
  }

  /**
   * The verified bundle's path, written first if it is not there yet. A sync writes the
   * bundles of a project's newest named revisions; any other tree (Buildroot has
   * ~29,000, a few MB each) gets its bundle when something first needs it.
   */
  async ensure(hash: string): Promise<string> {
    if (this.has(hash)) return this.path(hash);
    let making = this.making.get(hash);
    if (!making) {
      making = (async () => {
        const tree = this.source(hash);
        if (!tree) throw notFound("unknown_bundle", `No kconfig tree ${hash.slice(0, 12)}… is indexed; sync the project again.`);
        await this.build([{ hash, entries: tree.entries }], tree.extraFiles);
      })().finally(() => this.making.delete(hash));
      this.making.set(hash, making);
    }
    await making;
    return this.path(hash);
  }

  private file(hash: string): string {
    if (!HASH.test(hash)) throw invalid("bad_kconfig_hash", `'${hash}' is not a kconfig hash (64 hex digits).`);
    return path.join(this.dir, `${hash}.tar`);
  }

  has(hash: string): boolean {
    return fs.existsSync(this.file(hash));
  }

  /** The verified bundle's path; throws when it is missing or does not match its hash. */
  path(hash: string): string {
    const file = this.file(hash);
    const st = fs.statSync(file, { throwIfNoEntry: false });
    if (!st) throw notFound("unknown_bundle", `No kconfig bundle ${hash.slice(0, 12)}…; sync the project to make it.`);
    const identity = identityOf(st);
    if (this.verified.get(hash) === identity) return file;
    if (this.stamp(hash) === identity) {
      this.verified.set(hash, identity);
      return file;
    }
    let actual: string;
    try {
      actual = kconfigHash(entriesOf(parseTar(fs.readFileSync(file))));
    } catch (e) {
      throw new KbsError("internal", "corrupt_bundle", `The kconfig bundle ${hash.slice(0, 12)}… is unreadable (${(e as Error).message}); delete ${file} and sync the project to rebuild it.`);
    }
    if (actual !== hash) throw new KbsError("internal", "corrupt_bundle", `The kconfig bundle ${hash.slice(0, 12)}… does not match its hash; delete ${file} and sync the project to rebuild it.`);
    this.verifiedAs(hash, identity);
    return file;
  }

  /** The identity the bundle was last verified with, by any process. */
  private stamp(hash: string): string | undefined {
    try {
      return fs.readFileSync(path.join(this.stamps, hash), "utf8");
    } catch {
      return undefined;
    }
  }

  /** The bundle file as it is now matches its hash: remember its identity here and for the next process. */
  private verifiedAs(hash: string, identity: string): void {
    this.verified.set(hash, identity);
    const tmp = path.join(this.stamps, `${hash}.${process.pid}.tmp`);
    try {
      fs.mkdirSync(this.stamps, { recursive: true });
      fs.writeFileSync(tmp, identity);
      fs.renameSync(tmp, path.join(this.stamps, hash));
    } catch {
      // Only a saving for the next process (a full data disk, say): it verifies the bundle itself.
      fs.rmSync(tmp, { force: true });
    }
  }

  /** Delete a bundle (its project was removed and no other has it); missing is fine. */
  remove(hash: string): void {
    fs.rmSync(this.file(hash), { force: true });
    fs.rmSync(path.join(this.stamps, hash), { force: true });
    this.verified.delete(hash);
  }

  /** Safely extract a verified bundle into `destDir`. */
  async extract(hash: string, destDir: string): Promise<void> {
    extractEntries(parseTar(fs.readFileSync(this.path(hash))), destDir);
  }

  /**
   * Write the missing bundles among `trees` from their entries (tree blobs from git, in
   * one `cat-file` run for all of them; extras from the recipe). Each is written to a
   * temp file and renamed, so a bundle is whole or absent. Returns the bytes written.
   */
  async build(trees: Array<{ hash: string; entries: KconfigEntry[] }>, extraFiles: Record<string, string>, onBundle?: (done: number) => void): Promise<number> {
    const todo = trees.filter((t) => !fs.existsSync(this.file(t.hash)));
    if (!todo.length) return 0;
    // A recipe's extra file comes from its text; everything else (the tree's files, external trees' files) from git.
    const fromText = (e: KconfigEntry) => e.extra === true && Object.hasOwn(extraFiles, e.path);
    const blobs = await readBlobs(this.gitDir, todo.flatMap((t) => t.entries.filter((e) => !fromText(e)).map((e) => e.blob)));
    fs.mkdirSync(this.dir, { recursive: true });
    let written = 0;
    for (const [i, { hash, entries }] of todo.entries()) {
      const tar: TarWriteEntry[] = entries.map((e) => {
        const data = fromText(e) ? Buffer.from(extraFiles[e.path]!) : blobs.get(e.blob)!;
        if (fromText(e) && gitBlobId(data) !== e.blob) throw new Error(`the recipe's extra file ${e.path} changed since indexing; sync again`);
        return e.mode === "120000" ? { path: e.path, type: "symlink", mode: 0o777, linkname: data.toString("utf8") } : { path: e.path, type: "file", mode: e.mode === "100755" ? 0o755 : 0o644, data };
      });
      const buf = writeTar(tar);
      if (kconfigHash(entriesOf(parseTar(buf))) !== hash) throw new Error(`bundle ${hash} does not reproduce its hash; the index is inconsistent`);
      const file = this.file(hash);
      const tmp = `${file}.${process.pid}.tmp`;
      fs.writeFileSync(tmp, buf);
      fs.renameSync(tmp, file);
      // Its content was checked against the hash just above.
      this.verifiedAs(hash, identityOf(fs.statSync(file)));
      written += buf.length;
      onBundle?.(i + 1);
    }
    return written;
  }
}
