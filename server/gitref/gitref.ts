import fs from "node:fs";
import path from "node:path";
import { PassThrough, type Readable } from "node:stream";
import { log } from "../core/log";
import { spawnGroup } from "../core/proc";
import { git, GitError, gitEnv, gitMessage, gitStream, gitText } from "./git";
import { printableName, refNameProblem } from "./refname";
import { fastImportCommit, type TreeFile } from "./fast-import";

/** A ref of one project, with its project prefix removed. */
export interface ProjectRef {
  kind: "tag" | "branch";
  name: string;
  /** the commit it points at (tags peeled) */
  commit: string;
  /** the tag object id for annotated tags */
  tagObject?: string;
  annotated: boolean;
  taggerDate: number;
  /** the name an annotated tag object carries (what `git describe` prints) */
  embeddedName?: string;
}

export interface FetchProgress {
  done: number;
  total: number;
}

const SHA = /^[0-9a-f]{40}$/;
/** Fixed identity and date for imported trees (built-ins, tarballs): same tree, same commit sha. */
const IMPORT_IDENT = "kbs <kbs@localhost> 1704067200 +0000";

/**
 * The packed mirror of every project: one bare repo, refs prefixed by project id
 * (refs/heads/<id>/*, refs/tags/<id>/*, refs/heads/<id>/REMOTE_HEAD).
 */
export class GitRef {
  constructor(readonly dir: string) {}

  /** Create the bare repo on first use (idempotent; two processes racing on a fresh data dir both succeed). */
  async init(): Promise<void> {
    if (fs.existsSync(path.join(this.dir, "HEAD"))) return;
    fs.mkdirSync(path.dirname(this.dir), { recursive: true });
    try {
      await git(this.dir, ["init", "--bare", "-q", "--end-of-options", this.dir]);
      // No automatic gc while fetching, no reflogs: the mirror is maintained by kbs.
      for (const [k, v] of [
        ["gc.auto", "0"],
        ["core.logAllRefUpdates", "false"],
      ]) {
        await git(this.dir, ["config", k, v]);
      }
    } catch (e) {
      // The other process's init holds the config lock: its repo is as good as ours.
      if (!fs.existsSync(path.join(this.dir, "HEAD"))) throw e;
    }
  }

  /** Check that a URL or path is a git repository we can read, without fetching anything. */
  async probe(url: string): Promise<void> {
    await this.init();
    try {
      await git(this.dir, ["ls-remote", "--heads", "--end-of-options", url], { timeoutMs: 60_000 });
    } catch (e) {
      if (e instanceof GitError) throw new GitError(`not a git repository we can read: ${url}: ${gitMessage(e.stderr)}`, e.stderr, e.code);
      throw e;
    }
  }

  /**
   * Fetch every branch and tag of `url` under the project's prefix, pruning what the
   * remote deleted; ref updates are atomic. Refs whose names kbs refuses are deleted
   * again and reported. Names git itself chokes on make the wildcard fetch fail: then
   * the remote's refs are listed and only the good ones fetched, by name.
   */
  async fetch(projectId: string, url: string, onProgress?: (p: FetchProgress) => void): Promise<{ refs: ProjectRef[]; skippedRefs: string[] }> {
    await this.init();
    const wildcard = [`+refs/heads/*:refs/heads/${projectId}/*`, `+refs/tags/*:refs/tags/${projectId}/*`, `+HEAD:refs/heads/${projectId}/REMOTE_HEAD`];
    let skipped: string[] = [];
    try {
      await this.runFetch(url, wildcard, onProgress);
    } catch (e) {
      const listed = await this.listRemote(projectId, url).catch(() => undefined);
      if (!listed?.skipped.length) throw e;
      skipped = listed.skipped;
      const local = (r: string) => r.replace(/^refs\/(heads|tags)\//, (_, k: string) => `refs/${k}/${projectId}/`);
      await this.runFetch(url, [...listed.good.map((r) => `+${r}:${local(r)}`), ...(listed.hasHead ? [wildcard[2]!] : [])], onProgress);
      // By-name refspecs do not prune: drop what the remote no longer has ourselves.
      const wanted = new Set(listed.good.map(local));
      const { refs, bad } = await this.listRefs(projectId);
      const have = [...refs.map((r) => `refs/${r.kind === "tag" ? "tags" : "heads"}/${projectId}/${r.name}`), ...bad];
      await this.deleteRefs(have.filter((r) => !wanted.has(r) && !r.endsWith("/REMOTE_HEAD")));
    }
    // Names git accepts but kbs refuses (a leading '-'): delete them again.
    const strip = (r: string) => r.replace(/^refs\/(heads|tags)\/[^/]+\//, "");
    const { refs, bad } = await this.listRefs(projectId);
    for (const r of bad) log.warn({ project: projectId, ref: printableName(r) }, `skipping a ref from the remote: its name ${refNameProblem(strip(r))}`);
    await this.deleteRefs(bad);
    if (this.hasLooseRefs(projectId)) await git(this.dir, ["pack-refs", "--all"]);
    return { refs, skippedRefs: [...skipped.map((r) => r.replace(/^refs\/(heads|tags)\//, "")), ...bad.map(strip)] };
  }

  /** The remote's branches and tags, split into those kbs fetches and those it skips (unusable names, broken refs). */
  private async listRemote(projectId: string, url: string): Promise<{ good: string[]; skipped: string[]; hasHead: boolean }> {
    const listed = await gitText(this.dir, ["ls-remote", "--end-of-options", url], { timeoutMs: 300_000 });
    const good: string[] = [];
    const skipped: string[] = [];
    for (const [oid, r] of listed.split("\n").map((l) => l.split("\t") as [string, string?])) {
      if (!r || !/^refs\/(heads|tags)\//.test(r) || r.endsWith("^{}")) continue;
      const nameProblem = refNameProblem(r.replace(/^refs\/(heads|tags)\//, ""));
      const why = nameProblem ? `its name ${nameProblem}` : /^0{40}$/.test(oid) ? "it is broken on the remote (no object)" : undefined;
      if (why) log.warn({ project: projectId, ref: printableName(r) }, `skipping a ref from the remote: ${why}`);
      (why ? skipped : good).push(r);
    }
    return { good, skipped, hasHead: /^[0-9a-f]{40}\tHEAD$/m.test(listed) };
  }

  private runFetch(url: string, refspecs: string[], onProgress?: (p: FetchProgress) => void): Promise<void> {
    const args = ["fetch", "--no-tags", "--prune", "--atomic", "--progress", "--no-write-fetch-head", "--stdin", "--end-of-options", url];
    return new Promise<void>((resolve, reject) => {
      const child = spawnGroup("git", ["-c", "protocol.ext.allow=never", "--git-dir", this.dir, ...args], { env: gitEnv(), stdio: ["pipe", "ignore", "pipe"] });
      child.stdin!.on("error", () => {});
      child.stdin!.end(refspecs.join("\n") + "\n");
      let stderr = "";
      child.stderr!.on("data", (d: Buffer) => {
        const s = d.toString("utf8");
        if (stderr.length < 256 * 1024) stderr += s;
        const m = /(?:Receiving|Resolving) [a-z]+:\s+\d+% \((\d+)\/(\d+)\)/.exec(s.split(/[\r\n]/).filter(Boolean).pop() ?? "");
        if (m && onProgress) onProgress({ done: Number(m[1]), total: Number(m[2]) });
      });
      child.on("error", reject);
      child.on("close", (code, signal) => {
        if (code === 0) resolve();
        else reject(new GitError(signal ? `git fetch killed by ${signal}` : gitMessage(stderr), stderr, code));
      });
    });
  }

  /** Whether a fetch left loose ref files for the project (else packing has nothing to do). */
  private hasLooseRefs(projectId: string): boolean {
    const any = (dir: string): boolean =>
      fs.existsSync(dir) && fs.readdirSync(dir, { withFileTypes: true }).some((e) => (e.isDirectory() ? any(path.join(dir, e.name)) : true));
    return any(path.join(this.dir, "refs/heads", projectId)) || any(path.join(this.dir, "refs/tags", projectId));
  }

  /** Delete refs by full name through stdin (names never reach git's command line). */
  private async deleteRefs(refs: string[]): Promise<void> {
    if (refs.length) await git(this.dir, ["update-ref", "-z", "--stdin"], { input: refs.map((r) => `delete ${r}\0\0`).join("") });
  }

  /** Delete every ref under the project's prefix (`kbs project remove`); objects other projects share stay, the rest go at the next gc. */
  async removeRefs(projectId: string): Promise<number> {
    await this.init();
    const out = await gitText(this.dir, ["for-each-ref", "--format=%(refname)", `refs/heads/${projectId}/`, `refs/tags/${projectId}/`]);
    const refs = out.split("\n").filter(Boolean);
    await this.deleteRefs(refs);
    return refs.length;
  }

  /** The project's branches and tags (valid names only), tags peeled to commits. */
  async refs(projectId: string): Promise<ProjectRef[]> {
    await this.init();
    return (await this.listRefs(projectId)).refs;
  }

  /** One for-each-ref over the project's prefix: usable refs parsed, unusable names apart (full ref names). */
  private async listRefs(projectId: string): Promise<{ refs: ProjectRef[]; bad: string[] }> {
    const fmt = ["%(refname)", "%(objecttype)", "%(objectname)", "%(*objecttype)", "%(*objectname)", "%(taggerdate:raw)", "%(tag)"].join("%00");
    const out = await gitText(this.dir, ["for-each-ref", `--format=${fmt}`, `refs/heads/${projectId}/`, `refs/tags/${projectId}/`]);
    const refs: ProjectRef[] = [];
    const bad: string[] = [];
    for (const line of out.split("\n").filter(Boolean)) {
      const [refname, type, oid, ptype, poid, tdate, tagName] = line.split("\0") as string[];
      const m = /^refs\/(heads|tags)\/[^/]+\/(.+)$/.exec(refname!);
      if (!m || refNameProblem(m[2]!)) {
        bad.push(refname!);
        continue;
      }
      const annotated = type === "tag";
      const commit = annotated ? (ptype === "commit" ? poid : undefined) : type === "commit" ? oid : undefined;
      if (!commit) continue; // tags of trees or blobs, or tags of tags: nothing to describe
      refs.push({
        kind: m[1] === "tags" ? "tag" : "branch",
        name: m[2]!,
        commit,
        annotated,
        tagObject: annotated ? oid : undefined,
        taggerDate: Number((tdate ?? "").split(" ")[0]) || 0,
        embeddedName: annotated && tagName ? tagName : undefined,
      });
    }
    return { refs, bad };
  }

  /** Whether `file` exists in the tree of `sha`. */
  async hasPath(sha: string, file: string): Promise<boolean> {
    const r = await git(this.dir, ["cat-file", "-t", `${sha}:${file}`], { okCodes: [1, 128] });
    return r.toString().trim().length > 0;
  }

  /**
   * Store files as a parentless commit with a fixed author and date (so the same files
   * give the same sha) and point `refs` at it atomically. Without one of `requiredPaths`
   * (the recipe's entry candidates) among the files no commit is made; on any failure no ref changes.
   */
  async importTree(files: AsyncIterable<TreeFile>, opts: { refs: string[]; message: string; requiredPaths?: string[]; whatForErrors: string; stripTopDir?: boolean }): Promise<string> {
    await this.init();
    const tmpRef = `refs/kbs-import/${process.pid}-${Date.now()}`;
    try {
      const sha = await fastImportCommit(this.dir, tmpRef, files, {
        ident: IMPORT_IDENT,
        message: opts.message,
        stripTopDir: opts.stripTopDir,
        checkPaths: (paths) => {
          const wanted = opts.requiredPaths ?? [];
          if (wanted.length && !wanted.some((p) => paths.has(p))) {
            const names = wanted.join(" or ");
            throw new ImportError(`${opts.whatForErrors} has no ${names}: it is not a source tree for this recipe (expected the entry Kconfig file at ${names})`);
          }
        },
      });
      const input = opts.refs.map((r) => `update ${r}\0${sha}\0\0`).join("");
      await git(this.dir, ["update-ref", "-z", "--stdin"], { input });
      return sha;
    } finally {
      await git(this.dir, ["update-ref", "-d", "--end-of-options", tmpRef]).catch(() => {});
    }
  }

  /** The whole tree at a commit, as a tar stream from `git archive`. */
  archive(sha: string): Readable {
    if (!SHA.test(sha)) throw new Error(`archive: not a full commit sha: ${sha}`);
    const { stdout, done } = gitStream(this.dir, ["archive", "--format=tar", sha]);
    const out = new PassThrough();
    // git exits after its stdout closed: end the stream only once git says it succeeded.
    stdout.pipe(out, { end: false });
    done.then(
      () => out.end(),
      (e: Error) => out.destroy(e),
    );
    return out;
  }
}

export class ImportError extends Error {}
