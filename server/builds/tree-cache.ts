import fs from "node:fs";
import path from "node:path";
import { GUEST_OBJECTS, GUEST_OUT } from "../core/guest-paths";
import type { Settings } from "../core/settings";
import type { RunRequest, RunResult } from "../sandbox/types";
import { gitInitScript } from "./worktree";

const SHA = /^[0-9a-f]{40}$/;
/** An entry read this recently may be under a build's checkout right now: never evicted. */
const IN_USE_MS = 10 * 60_000;

/** A commit's checked-out tree, ready to unpack: what build.sh's checkout step reads at GUEST_TREE. */
export interface ReadyTree {
  /** Host dir with `tree.tar` and `index`, bound read-only into the build. */
  dir: string;
}

export interface TreeCacheDeps {
  sandbox: { run(req: RunRequest): Promise<RunResult> };
  /** gitref's object store (bound read-only, as for a build). */
  objectsDir: string;
}

/**
 * A ready work tree per commit, so a build unpacks one uncompressed tar instead of checking
 * the commit out, and its `git describe --dirty` (Klipper's version string) reads the index
 * instead of hashing the whole tree again.
 *
 * Why the hashing: git treats a file whose mtime is not older than the index as possibly
 * changed ("racily clean") and compares its content. A checkout writes every file and the index
 * within the same second or so, so the first `git status` or `git describe --dirty` after it
 * re-reads and hashes nearly the whole tree (a third of a second for a 45 MB tree on this
 * machine, more than the checkout itself); a developer's clone, built long after it was made,
 * does not pay that. Here each file's mtime is the commit's time (reproducible-builds.org's
 * clamp to SOURCE_DATE_EPOCH; a clone has the checkout time, which no output may depend on
 * anyway) and the index is refreshed once against those files, so every entry is older than
 * the index and clean by its stat data.
 *
 * An entry is made once per commit in a sandbox of the build image that runs git, find, touch
 * and tar and nothing of the project (the same git as the build's checkout, so the same files and
 * the same .gitattributes handling), with the commit's objects borrowed read-only; it comes back
 * through the strictly parsed output tar. The build tree sets core.checkStat=minimal and
 * core.trustctime=false, so the index's entries match the unpacked files by mtime (whole seconds)
 * and size; any write during the build gives a file today's mtime, which `--dirty` then sees.
 * Entries are read-only inside every sandbox and kept within `budgetBytes`, least recently used first out.
 */
/** Entries made at once here: builds queued for many new commits do not start a sandbox each. */
const MAKE_AT_ONCE = 2;

export class TreeCache {
  private readonly making = new Map<string, Promise<ReadyTree>>();
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(
    readonly root: string,
    /** Where entries are made before they are renamed into place: the build work root (the janitor removes stale ones). */
    private readonly workRoot: string,
    private readonly budgetBytes: number,
  ) {
    fs.mkdirSync(root, { recursive: true });
  }

  /** The ready tree of `commit`, made now if there is none (once at a time per commit here; another process's is taken as it is). */
  ensure(deps: TreeCacheDeps, image: string, commit: string, limits: { diskBytes: number; timeoutMs: number }): Promise<ReadyTree> {
    if (!SHA.test(commit)) return Promise.reject(new Error(`tree cache: not a full commit sha: ${commit}`));
    const dir = path.join(this.root, commit);
    if (fs.existsSync(path.join(dir, "index"))) {
      touch(dir);
      return Promise.resolve({ dir });
    }
    let p = this.making.get(commit);
    if (!p) {
      p = this.make(deps, image, commit, dir, limits).finally(() => this.making.delete(commit));
      this.making.set(commit, p);
    }
    return p;
  }

  private async make(deps: TreeCacheDeps, image: string, commit: string, dir: string, limits: { diskBytes: number; timeoutMs: number }): Promise<ReadyTree> {
    // A slot: taken now, or handed over by a make that ends.
    if (this.running >= MAKE_AT_ONCE) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.running++;
    try {
      // Another process may have made it meanwhile.
      if (fs.existsSync(path.join(dir, "index"))) return { dir };
      return await this.makeNow(deps, image, commit, dir, limits);
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }

  private async makeNow(deps: TreeCacheDeps, image: string, commit: string, dir: string, limits: { diskBytes: number; timeoutMs: number }): Promise<ReadyTree> {
    fs.mkdirSync(this.workRoot, { recursive: true });
    const tmp = fs.mkdtempSync(path.join(this.workRoot, `tree-${commit.slice(0, 12)}-`));
    const out = path.join(tmp, "tree");
    try {
      const r = await deps.sandbox.run({
        image,
        argv: ["/bin/bash", "-c", treeJob(commit)],
        cwd: "/work",
        binds: [{ host: deps.objectsDir, guest: GUEST_OBJECTS }],
        env: { PATH: "/usr/bin:/bin", LC_ALL: "C.UTF-8", TZ: "UTC" },
        collect: { into: out, maxBytes: limits.diskBytes, maxFiles: 10 },
        workSizeBytes: limits.diskBytes,
        timeoutMs: limits.timeoutMs,
      });
      if (r.code !== 0) throw new Error(`checking out ${commit} failed: ${r.stderr.toString().trim().split("\n").slice(-3).join(" | ") || `exit code ${r.code}`}`);
      if (!r.collected || "error" in r.collected) throw new Error(`the checked-out tree of ${commit} was refused: ${r.collected && "error" in r.collected ? r.collected.error : "none came back"}`);
      if (!fs.existsSync(path.join(out, "index")) || !fs.existsSync(path.join(out, "tree.tar"))) throw new Error(`the checkout of ${commit} left no tree`);
      try {
        fs.renameSync(out, dir);
      } catch (e) {
        // Another process made it first: theirs is as good.
        if (!fs.existsSync(path.join(dir, "index"))) throw e;
      }
      this.evict(commit);
      return { dir };
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  }

  /** Oldest-used entries out until the cache fits its budget; `keep` and entries read in the last minutes stay. */
  private evict(keep: string): void {
    const entries = fs
      .readdirSync(this.root)
      .filter((n) => SHA.test(n))
      .map((n) => {
        const dir = path.join(this.root, n);
        const st = fs.statSync(dir);
        const bytes = ["tree.tar", "index"].reduce((a, f) => a + (fs.statSync(path.join(dir, f), { throwIfNoEntry: false })?.size ?? 0), 0);
        return { n, dir, bytes, used: st.mtimeMs };
      })
      .sort((a, b) => a.used - b.used);
    let total = entries.reduce((a, e) => a + e.bytes, 0);
    for (const e of entries) {
      if (total <= this.budgetBytes) break;
      if (e.n === keep || Date.now() - e.used < IN_USE_MS) continue;
      fs.rmSync(e.dir, { recursive: true, force: true });
      total -= e.bytes;
    }
  }
}

/** The data dir's tree cache: `<dataDir>/trees`, made in the build work root, within KBS_TREE_CACHE_MB. */
export function treeCacheFor(settings: Pick<Settings, "dataDir" | "builds">): TreeCache {
  return new TreeCache(path.join(settings.dataDir, "trees"), path.join(settings.dataDir, "build-work"), settings.builds.treeCacheMB * 2 ** 20);
}

/** Mark an entry used now (its dir's mtime orders eviction). */
function touch(dir: string): void {
  const now = new Date();
  try {
    fs.utimesSync(dir, now, now);
  } catch {
    /* evicted meanwhile: the caller's bind then fails and says so */
  }
}

/**
 * The sandbox job that makes an entry: check the commit out as build.sh used to (a work tree
 * borrowing the objects), give every file the commit's time, refresh the index once (hashing
 * each file, the one time), and hand back the tree without .git as a tar, and the index.
 */
function treeJob(commit: string): string {
  return [
    "set -euo pipefail",
    "fail() { printf 'kbs: %s\\n' \"$1\" >&2; exit 3; }",
    gitInitScript(),
    `git -c advice.detachedHead=false checkout -q --detach ${commit}`,
    "epoch=$(git log -1 --format=%ct HEAD)",
    "find . -path ./.git -prune -o -exec touch -h -d @$epoch {} +",
    "git -c core.checkStat=minimal -c core.trustctime=false update-index -q --refresh",
    `tar -cf ${GUEST_OUT}/tree.tar --format=gnu --sort=name --exclude=./.git .`,
    `cp .git/index ${GUEST_OUT}/index`,
  ].join("\n");
}
