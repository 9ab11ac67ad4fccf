import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { Bind } from "../sandbox/types";
import { GUEST_IN, GUEST_OUT } from "../core/guest-paths";
import { collectTar } from "../sandbox/untrusted";

/** The guest paths of a build's compiler cache. */
const SHARED_GUEST = "/ccache";
/** The build's own local cache: in the size-limited /work, so its new objects count against the build's disk limit. */
const BUILD_GUEST = "/work/.kbs-ccache";
/**
 * The build's new objects come back as one tar among its outputs (build.sh writes it after its
 * last step): one file for the host to write on the build's critical path instead of a hundred
 * small ones (ccache keeps a result and a manifest per compile); the merge parses it later.
 */
export const CCACHE_OUTPUT_TAR = "ccache.tar";
const MERGE_LIMITS = { maxBytes: 2 * 2 ** 30, maxFiles: 1_000_000 };
const CONFIG_NAME = "ccache.conf";

/** A scope's cache is dropped (and starts over) past this. */
const SCOPE_MAX_BYTES = 2 * 2 ** 30;
const SIZE_FILE = ".kbs-size";

/** ccache 4's local storage: `<a>/<b>/<rest of the key><R|M>` (result or manifest). */
const LOCAL_ENTRY = /^([0-9a-f])\/([0-9a-f])\/([0-9a-z]{8,80})[RM]$/;

/**
 * kbs's ccache.conf. Settings that cannot change the output: no base_dir (it rewrites paths on
 * the compiler's command line), compilers checked by content. `depend_mode`: a miss does not run
 * the preprocessor a second time to key the result, the key comes from the compiler's own -MD
 * dependency list (Klipper's CFLAGS and Linux's -Wp,-MMD have it; a compile without -MD falls back
 * to the preprocessor mode), which cuts a cold cache's cost from about a fifth of Klipper's compile
 * CPU to a twelfth (measured in docs/DESIGN-NOTES.md). The compile itself is the same command either way.
 */
const CCACHE_CONF = "max_size = 2G\numask = 022\ncompiler_check = content\ndepend_mode = true\n";

/**
 * The compiler cache, under the rule that no state one build writes is trusted by another:
 *
 * - a cache is shared only between builds of the same requester (client) and project, of
 *   one recipe and build image (its *scope*), and it is read-only inside the sandbox:
 *   ccache reads it as `remote_storage = file:/ccache|read-only`;
 * - each build writes its own objects to a fresh local cache in its size-limited /work,
 *   handed back as a tar with the outputs; kbs parses it strictly (sandbox/untrusted.ts) and
 *   merges it into the scope itself, taking only files shaped like ccache entries, written
 *   whole by rename;
 * - ccache's own configuration is kbs's read-only file (CCACHE_CONFIGPATH), never one in
 *   a cache dir.
 */
export class CompilerCache {
  readonly root: string;

  constructor(dataDir: string) {
    this.root = path.join(dataDir, "ccache");
    fs.mkdirSync(this.root, { recursive: true });
    // Caches of the earlier layout were world-writable and shared by every build of a recipe: none of it is trusted.
    for (const name of fs.readdirSync(this.root)) {
      const dir = path.join(this.root, name);
      if (fs.lstatSync(dir).mode & 0o002) fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  scope(s: { recipe: string; image: string; project: string; client: string }): string {
    const who = crypto.createHash("sha256").update(`${s.project}\0${s.client}`).digest("hex").slice(0, 24);
    return path.join(this.root, `${s.recipe}-${s.image.replace(/[^A-Za-z0-9_.-]/g, "_")}`, who);
  }

  /** Binds and env for a build in `scope`; `inDir` (bound at /kbs/in) gets kbs's ccache.conf. */
  forBuild(scope: string, inDir: string): { binds: Bind[]; env: Record<string, string> } {
    fs.writeFileSync(path.join(inDir, CONFIG_NAME), CCACHE_CONF, { mode: 0o644 });
    const shared = fs.existsSync(scope);
    return {
      binds: shared ? [{ host: scope, guest: SHARED_GUEST }] : [],
      env: {
        CCACHE_DIR: BUILD_GUEST,
        KBS_CCACHE_TAR: `${GUEST_OUT}/${CCACHE_OUTPUT_TAR}`,
        CCACHE_CONFIGPATH: `${GUEST_IN}/${CONFIG_NAME}`,
        ...(shared ? { CCACHE_REMOTE_STORAGE: `file:${SHARED_GUEST}|read-only` } : {}),
      },
    };
  }

  /** Merges under way, per scope: one at a time per scope (its size file), and the next build of a scope waits for them. */
  private readonly merging = new Map<string, Promise<void>>();

  /**
   * Merge a build's new objects after the build is recorded, off its critical path (a local
   * build pays no merge): `collected` (the build's ccache.tar) is moved to `spool` (a fresh name
   * in the same file system, under the build work root whose stale entries the janitor removes)
   * at once, so the build's job dir can go; the tar is then parsed into `spool`.d and merged in the
   * background, and both removed. `ready(scope)` waits for it, so the next build of the scope
   * reads every object; `settled()` at shutdown.
   */
  mergeLater(scope: string, collected: string, spool: string, onDone: (added: number, error?: Error) => void): void {
    if (!fs.existsSync(collected)) return;
    fs.renameSync(collected, spool);
    const dir = `${spool}.d`;
    const job = (this.merging.get(scope) ?? Promise.resolve())
      .then(() => collectTar(fs.createReadStream(spool), dir, MERGE_LIMITS))
      .then(() => this.merge(scope, dir))
      .then(
        (added) => onDone(added),
        (e: Error) => onDone(0, e),
      )
      .finally(() => Promise.all([fs.promises.rm(spool, { force: true }), fs.promises.rm(dir, { recursive: true, force: true })]));
    this.merging.set(scope, job);
    void job.finally(() => {
      if (this.merging.get(scope) === job) this.merging.delete(scope);
    });
  }

  /** Resolves once no merge into `scope` is under way. */
  async ready(scope: string): Promise<void> {
    await this.merging.get(scope)?.catch(() => undefined);
  }

  /** Resolves once every merge under way has finished. */
  async settled(): Promise<void> {
    await Promise.all([...this.merging.values()].map((p) => p.catch(() => undefined)));
  }

  /**
   * Merge the local cache a build handed back (`collected`, a dir kbs wrote from the build's
   * ccache.tar) into `scope`, converted to the remote-storage layout ccache reads it in.
   * Returns the bytes added.
   */
  async merge(scope: string, collected: string): Promise<number> {
    if (!fs.existsSync(collected)) return 0;
    const entries = (await fs.promises.readdir(collected, { recursive: true, withFileTypes: true }))
      .filter((d) => d.isFile())
      .map((d) => path.relative(collected, path.join(d.parentPath, d.name)).split(path.sep).join("/"))
      .flatMap((rel) => {
        const m = LOCAL_ENTRY.exec(rel);
        return m ? [{ from: path.join(collected, rel), to: path.join(scope, `${m[1]}${m[2]}`, m[3]!) }] : [];
      });
    let added = 0;
    for (const e of entries) {
      if (fs.existsSync(e.to)) continue;
      await fs.promises.mkdir(path.dirname(e.to), { recursive: true, mode: 0o755 });
      const tmp = `${e.to}.tmp-${crypto.randomBytes(4).toString("hex")}`;
      await fs.promises.copyFile(e.from, tmp);
      await fs.promises.chmod(tmp, 0o644);
      await fs.promises.rename(tmp, e.to);
      added += (await fs.promises.stat(e.to)).size;
    }
    if (!added) return 0;
    const sizeFile = path.join(scope, SIZE_FILE);
    const total = Number((await fs.promises.readFile(sizeFile, "utf8").catch(() => "0")) || 0) + added;
    if (total > SCOPE_MAX_BYTES) await fs.promises.rm(scope, { recursive: true, force: true });
    else await fs.promises.writeFile(sizeFile, String(total));
    return added;
  }
}
