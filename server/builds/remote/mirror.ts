import fs from "node:fs";
import path from "node:path";
import { git, gitText } from "../../gitref/git";
import { GitRef } from "../../gitref/gitref";

export interface MirrorFetch {
  /** Objects the fetch added to the mirror (0 when the commit was there already). */
  objects: number;
  bytes: number;
  ms: number;
}

/**
 * A remote worker's copy of the sources: one bare repo per project under its own data
 * dir, fetched from the server's /git/<project> (git's smart HTTP, the worker token in an
 * extra header given through the environment, never on a command line). It is fetched
 * only when a build's commit is missing, and git's negotiation then moves only the
 * objects the mirror does not have.
 */
export class WorkerMirror {
  private busy = new Map<string, Promise<unknown>>();

  constructor(
    private dir: string,
    private server: string,
    private authHeader: () => string,
  ) {}

  private repo(project: string): string {
    return path.join(this.dir, `${project}.git`);
  }

  /** Make sure `commit` is in the project's mirror; one fetch per project at a time. */
  async ensure(project: string, commit: string): Promise<MirrorFetch> {
    const before = this.busy.get(project) ?? Promise.resolve();
    const mine = before.catch(() => undefined).then(() => this.fetchIfMissing(project, commit));
    this.busy.set(project, mine);
    try {
      return await mine;
    } finally {
      if (this.busy.get(project) === mine) this.busy.delete(project);
    }
  }

  private async fetchIfMissing(project: string, commit: string): Promise<MirrorFetch> {
    const repo = this.repo(project);
    const gitref = new GitRef(repo);
    await gitref.init();
    if (await this.has(repo, commit)) return { objects: 0, bytes: 0, ms: 0 };
    const start = Date.now();
    const before = await this.objectCount(repo);
    const env = { GIT_CONFIG_COUNT: "1", GIT_CONFIG_KEY_0: "http.extraHeader", GIT_CONFIG_VALUE_0: `Authorization: ${this.authHeader()}` };
    const url = `${this.server}/git/${encodeURIComponent(project)}`;
    let lastError: unknown;
    // The server may be restarting: retried with backoff, like every other request of the worker.
    for (let attempt = 0; attempt < 8; attempt++) {
      try {
        await git(repo, ["fetch", "--prune", "--no-tags", "--quiet", "--no-write-fetch-head", "--end-of-options", url, `+refs/heads/*:refs/heads/${project}/*`, `+refs/tags/*:refs/tags/${project}/*`], { env, timeoutMs: 3600_000 });
        lastError = undefined;
        break;
      } catch (e) {
        lastError = e;
        if (/\b(401|403|404)\b/.test((e as Error).message)) break;
        await new Promise((r) => setTimeout(r, Math.min(5000, 200 * 2 ** attempt)));
      }
    }
    if (lastError) throw new Error(`fetching ${project} from ${url} failed: ${(lastError as Error).message}`);
    if (!(await this.has(repo, commit))) throw new Error(`commit ${commit} is not reachable from the refs the server serves for ${project} (was the branch rewritten since the build was requested?)`);
    const after = await this.objectCount(repo);
    return { objects: after.count - before.count, bytes: Math.max(0, after.bytes - before.bytes), ms: Date.now() - start };
  }

  private has(repo: string, commit: string): Promise<boolean> {
    return git(repo, ["cat-file", "-t", commit]).then(
      (t) => t.toString().trim() === "commit",
      () => false,
    );
  }

  /** Objects in the repo, loose and packed (`git count-objects -v`). */
  async objectCount(repo: string): Promise<{ count: number; bytes: number }> {
    const text = await gitText(repo, ["count-objects", "-v"]);
    const v = (k: string) => Number(new RegExp(`^${k}: (\\d+)`, "m").exec(text)?.[1] ?? 0);
    return { count: v("count") + v("in-pack"), bytes: (v("size") + v("size-pack")) * 1024 };
  }

  objectsOf(project: string): Promise<{ count: number; bytes: number }> {
    return this.objectCount(this.repo(project));
  }

  /**
   * The project's mirror as the builder reads a gitref: its refs are kept under the project's
   * prefix (refs/tags/<project>/v1.0), as in the server's gitref, so the build's work tree gets
   * the upstream names from it the same way.
   */
  gitref(project: string): GitRef {
    return new GitRef(this.repo(project));
  }

  exists(project: string): boolean {
    return fs.existsSync(path.join(this.repo(project), "HEAD"));
  }
}
