import fs from "node:fs";
import path from "node:path";
import { log } from "../log";
import { run } from "../proc";
import type { Recipe } from "../projects/recipe";
import type { RunRequest, RunResult } from "../sandbox/types";
import { kconfigEnv } from "./kconfig-env";
import { linkOrCopy } from "./bundle-files";

/** A tree's own Kconfig programs, built from its scripts/kconfig, on the host. */
export interface TreeBinaries {
  /** A tar holding scripts/kconfig/mconf (and conf), to extract into /work after the bundle. */
  tar: string;
  mconf: boolean;
  conf: boolean;
}

export interface TreeBinariesDeps {
  settings: { dataDir: string };
  sandbox: { run(req: RunRequest): Promise<RunResult> };
}

/**
 * The tree's Makefile builds its mconf for `menuconfig` and its conf for `olddefconfig`
 * (Linux has no target for the programs alone). A 20x5 screen (LINES/COLUMNS) makes
 * mconf stop at once with "display too small" instead of waiting for keys.
 */
const BUILD_SCRIPT = `
set -u
tar -xf /kbs/in/bundle.tar -C /work || exit 90
cd /work
LINES=5 COLUMNS=20 timeout 240 make -s menuconfig </dev/null >/kbs/out/build.log 2>&1
timeout 60 make -s olddefconfig </dev/null >>/kbs/out/build.log 2>&1
for f in mconf conf; do [ -x scripts/kconfig/$f ] && cp scripts/kconfig/$f /kbs/out/$f; done
exit 0
`;

/**
 * mconf trees (Linux) are best served by their own mconf/conf: they match the
 * tree's Kconfig dialect and preprocessor. They are built once per kconfig hash in a
 * sandbox (the build runs the tree's Makefile) and kept under data/kconfig-bin/<hash>/;
 * a tree that has no scripts/kconfig, or whose tools do not build, is remembered too,
 * and the system's kconfig-frontends serve it.
 */
export class TreeBinaryCache {
  private inflight = new Map<string, Promise<TreeBinaries | undefined>>();

  constructor(private readonly deps: TreeBinariesDeps) {}

  get(recipe: Recipe, kconfigHash: string, bundle: string, files: Set<string>): Promise<TreeBinaries | undefined> {
    if (recipe.frontend !== "mconf" || !files.has("scripts/kconfig/Makefile") || !files.has("Makefile")) return Promise.resolve(undefined);
    const dir = path.join(this.deps.settings.dataDir, "kconfig-bin", kconfigHash);
    const cached = readCache(dir);
    if (cached !== null) return Promise.resolve(cached);
    let p = this.inflight.get(kconfigHash);
    if (!p) {
      p = this.build(recipe, dir, bundle).finally(() => this.inflight.delete(kconfigHash));
      this.inflight.set(kconfigHash, p);
    }
    return p;
  }

  private async build(recipe: Recipe, dir: string, bundle: string): Promise<TreeBinaries | undefined> {
    const tmp = path.join(this.deps.settings.dataDir, "tmp");
    fs.mkdirSync(tmp, { recursive: true });
    const work = fs.mkdtempSync(path.join(tmp, "kconfig-bin-"));
    try {
      const inDir = path.join(work, "in");
      const outDir = path.join(work, "out");
      fs.mkdirSync(inDir, { mode: 0o755 });
      fs.mkdirSync(outDir, { mode: 0o777 });
      fs.chmodSync(work, 0o755);
      fs.chmodSync(outDir, 0o777);
      linkOrCopy(bundle, path.join(inDir, "bundle.tar"));
      const r = await this.deps.sandbox.run({
        image: "menuconfig",
        binds: [
          { host: inDir, guest: "/kbs/in" },
          { host: outDir, guest: "/kbs/out", writable: true },
        ],
        argv: ["/bin/sh", "-c", BUILD_SCRIPT],
        cwd: "/work",
        env: kconfigEnv(recipe),
        timeoutMs: 300_000,
      });
      const built = ["mconf", "conf"].filter((f) => fs.existsSync(path.join(outDir, f)));
      fs.mkdirSync(dir, { recursive: true });
      if (r.code !== 0 || !built.length) {
        const buildLog = fs.existsSync(path.join(outDir, "build.log")) ? fs.readFileSync(path.join(outDir, "build.log"), "utf8").slice(-4000) : "";
        const why = `exit code ${r.code}${r.timedOut ? " (timed out)" : ""}\n${r.stderr.toString().slice(-2000)}\n${buildLog}`;
        fs.writeFileSync(path.join(dir, "failed"), why);
        log.warn({ dir, code: r.code }, "the tree's own Kconfig tools did not build; the system's kconfig-frontends serve it");
        return undefined;
      }
      const stage = path.join(work, "stage");
      fs.mkdirSync(path.join(stage, "scripts/kconfig"), { recursive: true });
      for (const f of built) fs.copyFileSync(path.join(outDir, f), path.join(stage, "scripts/kconfig", f));
      for (const f of built) fs.chmodSync(path.join(stage, "scripts/kconfig", f), 0o755);
      const tar = path.join(dir, "tree-bins.tar");
      const t = await run("tar", ["-cf", `${tar}.tmp`, "-C", stage, ...built.map((f) => `scripts/kconfig/${f}`)]);
      if (t.code !== 0) throw new Error(`cannot pack the tree's Kconfig tools: ${t.stderr.toString()}`);
      fs.renameSync(`${tar}.tmp`, tar);
      fs.writeFileSync(path.join(dir, "tools.json"), JSON.stringify({ mconf: built.includes("mconf"), conf: built.includes("conf") }));
      log.info({ dir, built }, "built the tree's own Kconfig tools");
      return readCache(dir) ?? undefined;
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
  }
}

/** What the cache dir says: built tools, a remembered failure (undefined), or nothing yet (null). */
function readCache(dir: string): TreeBinaries | undefined | null {
  const tar = path.join(dir, "tree-bins.tar");
  const manifest = path.join(dir, "tools.json");
  if (fs.existsSync(tar) && fs.existsSync(manifest)) return { tar, ...(JSON.parse(fs.readFileSync(manifest, "utf8")) as { mconf: boolean; conf: boolean }) };
  return fs.existsSync(path.join(dir, "failed")) ? undefined : null;
}
