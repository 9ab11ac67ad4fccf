import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { ProjectRef } from "../gitref/gitref";
import { GUEST_IN, GUEST_OBJECTS, GUEST_TREE } from "../core/guest-paths";
import { gitText } from "../gitref/git";

/**
 * The build tree is a git work tree, as a user has it after `git clone` and
 * `git checkout <commit>`: `.git` has this project's tags under their upstream names
 * (`v0.13.0`, not `klipper/v0.13.0`) and its branches as `origin/<name>`, HEAD detached
 * at the commit, and the index of a fresh checkout, so `git describe --tags --long
 * --dirty` inside prints what it prints in a clone and `git status` is clean.
 *
 * The files and the index come from the commit's ready tree (tree-cache.ts), made once per
 * commit. Nothing of the history is copied per build: the sandbox sees gitref's object store
 * read-only at GUEST_OBJECTS and the work tree's `.git/objects/info/alternates` points
 * there. Refs come in as a packed-refs file written here from the project's refs only,
 * so other projects' refs are not visible (their objects are, by id, in the shared store).
 *
 * `git describe` abbreviates the commit id to a length git picks from the number of objects
 * in the repository (Klipper prints it as the firmware version): a fresh clone of the upstream
 * has the objects its refs reach, but the shared store has every project's. The work tree (and
 * reproduce.sh's clone) therefore pins `core.abbrev` to the length such a clone gets.
 */
export interface WorkTreeSource {
  /** Host dir bound read-only at GUEST_OBJECTS. */
  objectsDir: string;
  /** core.abbrev of a fresh clone of the upstream. */
  abbrev: number;
  /** The committer time of the commit (SOURCE_DATE_EPOCH). */
  commitEpoch: number;
}

export interface GitRefView {
  dir: string;
  refs(projectId: string): Promise<ProjectRef[]>;
}

/**
 * packed-refs for the project's refs under their upstream names: annotated tags with their
 * peeled commit (`^sha`), as `git clone` writes them. REMOTE_HEAD is kbs's own name for the
 * remote's HEAD and becomes `origin/HEAD`.
 */
export function packedRefs(refs: ProjectRef[]): string {
  const lines = refs.map((r) => {
    const name = r.kind === "tag" ? `refs/tags/${r.name}` : `refs/remotes/origin/${r.name === "REMOTE_HEAD" ? "HEAD" : r.name}`;
    const text = r.tagObject ? `${r.tagObject} ${name}\n^${r.commit}` : `${r.commit} ${name}`;
    return { name, text };
  });
  lines.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return `# pack-refs with: peeled fully-peeled sorted \n${lines.map((l) => l.text).join("\n")}\n`;
}

/** git's automatic abbreviation for a repository of `count` objects (the bits of the count, halved, rounded up; at least 7). */
export function abbrevFor(count: number): number {
  const bits = count > 0 ? Math.floor(Math.log2(count)) + 1 : 0;
  return Math.max(7, Math.ceil(bits / 2));
}

const abbrevs = new Map<string, Promise<number>>();

/** The objects the project's refs reach, counted once per set of ref tips (a fresh clone has exactly these). */
function cloneAbbrev(gitDir: string, project: string, refsText: string): Promise<number> {
  const key = `${gitDir}\0${project}\0${crypto.createHash("sha256").update(refsText).digest("hex")}`;
  let p = abbrevs.get(key);
  if (!p) {
    p = gitText(gitDir, ["rev-list", "--objects", "--count", `--glob=refs/heads/${project}/*`, `--glob=refs/tags/${project}/*`]).then((n) => abbrevFor(Number(n.trim())));
    p.catch(() => abbrevs.delete(key));
    abbrevs.set(key, p);
  }
  return p;
}

/** Write `packed-refs` into the build's in-dir and say where the objects are, when the commit was made and the clone's abbrev. */
export async function prepareWorkTree(gitref: GitRefView, project: string, commit: string, inDir: string): Promise<WorkTreeSource> {
  const [refs, time] = await Promise.all([gitref.refs(project), gitText(gitref.dir, ["show", "-s", "--format=%ct", commit])]);
  const text = packedRefs(refs);
  fs.writeFileSync(path.join(inDir, "packed-refs"), text);
  return { objectsDir: path.join(gitref.dir, "objects"), abbrev: await cloneAbbrev(gitref.dir, project, text), commitEpoch: Number(time.trim()) };
}

/** A fresh git repository in /work/src (the shell's cwd after) whose objects are gitref's, borrowed read-only. */
export function gitInitScript(): string {
  return [
    "mkdir -p /work/src && cd /work/src || exit 1",
    'git -c init.defaultBranch=master init -q . || fail "git init failed in the work dir"',
    `printf '%s\\n' ${GUEST_OBJECTS} > .git/objects/info/alternates`,
  ].join("\n");
}

/**
 * The shell lines of build.sh that make the work tree in /work/src: the commit's ready tree
 * (tree-cache.ts, read-only at GUEST_TREE) unpacked, its index, HEAD detached at the commit, and
 * /kbs/in/packed-refs. The stat check is git's minimal one (mtime in whole seconds and size) with
 * ctime not trusted: the index was refreshed against the same files in another sandbox, so their
 * inode numbers, owners and ctimes differ, and only those.
 */
export function checkoutScript(commit: string, abbrev: number): string {
  return [
    gitInitScript(),
    // What `git config` and `git checkout --detach` would write, written directly (one git process in all).
    `printf '[core]\\n\\tabbrev = ${abbrev}\\n\\tcheckStat = minimal\\n\\ttrustctime = false\\n' >> .git/config || exit 1`,
    `cp ${GUEST_IN}/packed-refs .git/packed-refs || exit 1`,
    `tar -xf ${GUEST_TREE}/tree.tar || fail "could not unpack the tree of ${commit}"`,
    `cp ${GUEST_TREE}/index .git/index || exit 1`,
    `printf '%s\\n' ${commit} > .git/HEAD || exit 1`,
  ].join("\n");
}
