import fs from "node:fs";
import path from "node:path";
import { log } from "../core/log";
import { run } from "../core/proc";
import type { Recipe } from "../core/recipe";
import { GUEST_IN, GUEST_OUT } from "../core/guest-paths";
import { runStaged, type StageDeps } from "../sandbox/stage";
import { kconfigEnv } from "./kconfig-env";

/** What was built from a tree's own Kconfig tooling, kept on the host. */
export interface TreeBinaries {
  /** A tar of the built files at their tree paths, to extract into /work after the bundle. */
  tar: string;
  /** <kconfigTools.dir>/mconf and conf (mconf trees). */
  mconf: boolean;
  conf: boolean;
  /** lib/kconfiglib/__pycache__ (trees that ship Kconfiglib): saves compiling it at every session. */
  pyc: boolean;
  /** The recipe's kconfigEnvProbe values for this tree (KERNELVERSION, CC_VERSION_TEXT): every Kconfig run on it gets them. */
  env: Record<string, string>;
}

export interface TreeBinariesDeps extends StageDeps {
  settings: { dataDir: string; stagingDir: string };
}

type Kind = "mconf" | "pyc";

/**
 * mconf: the tree's Makefile builds its mconf for `menuconfig` and its conf for
 * `olddefconfig` (Linux has no target for the programs alone); a 20x5 screen
 * (LINES/COLUMNS) makes mconf stop at once with "display too small" instead of
 * waiting for keys. pyc: the tree's Kconfiglib compiled to unchecked-hash bytecode
 * (valid whatever the files' times: the cache is per content hash).
 */
const BUILD_SCRIPTS: Record<Kind, string> = {
  mconf: `
set -u
tar -xf ${GUEST_IN}/bundle.tar -C /work || exit 90
cd /work
LINES=5 COLUMNS=20 timeout 240 make -s menuconfig </dev/null >${GUEST_OUT}/build.log 2>&1
timeout 60 make -s olddefconfig </dev/null >>${GUEST_OUT}/build.log 2>&1
mkdir -p "${GUEST_OUT}/tree/$KBS_TOOLS_DIR"
for f in mconf conf; do [ -x "$KBS_TOOLS_DIR/$f" ] && cp "$KBS_TOOLS_DIR/$f" "${GUEST_OUT}/tree/$KBS_TOOLS_DIR/$f"; done
`,
  pyc: `
set -u
tar -xf ${GUEST_IN}/bundle.tar -C /work || exit 90
cd /work
/usr/bin/python3 -m compileall -q --invalidation-mode unchecked-hash lib/kconfiglib >${GUEST_OUT}/build.log 2>&1
mkdir -p ${GUEST_OUT}/tree/lib/kconfiglib
cp -r lib/kconfiglib/__pycache__ ${GUEST_OUT}/tree/lib/kconfiglib/ 2>>${GUEST_OUT}/build.log
`,
};

/** Where the probe writes one file per variable; each is read back with a size cap. */
const ENV_DIR = "env";
const MAX_ENV_VALUE = 512;

const shQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** The recipe's kconfigEnvProbe as shell: each command's first line into /kbs/out/env/<NAME>, in the tree at /work. */
function probeScript(recipe: Recipe): string {
  const lines = Object.entries(recipe.kconfigEnvProbe).map(([name, cmd]) => `(cd /work && timeout 60 sh -c ${shQuote(cmd)} </dev/null 2>>${GUEST_OUT}/build.log) | head -n 1 > ${GUEST_OUT}/${ENV_DIR}/${name}`);
  return lines.length ? `mkdir -p ${GUEST_OUT}/${ENV_DIR}\n${lines.join("\n")}\n` : "";
}

/** A small regular file the sandbox wrote, read without following links; undefined when it is anything else. */
function readSandboxFile(file: string, maxBytes: number): string | undefined {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile() || st.size > maxBytes) return undefined;
    const buf = Buffer.alloc(st.size);
    const n = fs.readSync(fd, buf, 0, st.size, 0);
    return buf.subarray(0, n).toString("utf8");
  } finally {
    fs.closeSync(fd);
  }
}

/** The probed values: first line, printable characters only (they go into environments and .config strings). */
function readProbedEnv(recipe: Recipe, outDir: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of Object.keys(recipe.kconfigEnvProbe)) {
    const raw = readSandboxFile(path.join(outDir, ENV_DIR, name), MAX_ENV_VALUE * 4);
    const value = raw?.split("\n")[0]!.replace(/[^\x20-\x7e]/g, "").slice(0, MAX_ENV_VALUE);
    if (value) env[name] = value;
  }
  return env;
}

function kindOf(recipe: Recipe, files: Set<string>): Kind | undefined {
  if (recipe.frontend === "mconf" && files.has(`${recipe.kconfigTools.sources}/Makefile`) && files.has("Makefile")) return "mconf";
  if (recipe.frontend === "kconfiglib" && files.has("lib/kconfiglib/kconfiglib.py")) return "pyc";
  return undefined;
}

/**
 * A tree's own Kconfig tooling, prepared once per kconfig hash in a sandbox and kept
 * under data/kconfig-bin/<hash>/: mconf trees (Linux) get their own mconf/conf (they
 * match the tree's Kconfig dialect and preprocessor), trees that ship Kconfiglib get
 * it byte-compiled. A tree whose tools do not build is remembered, and the system's
 * tools serve it.
 */
export class TreeBinaryCache {
  private inflight = new Map<string, Promise<TreeBinaries | undefined>>();

  constructor(private readonly deps: TreeBinariesDeps) {}

  get(recipe: Recipe, kconfigHash: string, bundle: string, files: Set<string>): Promise<TreeBinaries | undefined> {
    const kind = kindOf(recipe, files);
    if (!kind) return Promise.resolve(undefined);
    const dir = path.join(this.deps.settings.dataDir, "kconfig-bin", kconfigHash);
    const cached = readCache(dir);
    if (cached === undefined) return Promise.resolve(undefined);
    // Tools built before the recipe probed its environment are built again, with it.
    if (cached && (cached.env || !Object.keys(recipe.kconfigEnvProbe).length)) return Promise.resolve({ ...cached, env: cached.env ?? {} });
    let p = this.inflight.get(kconfigHash);
    if (!p) {
      p = this.build(kind, recipe, dir, bundle).finally(() => this.inflight.delete(kconfigHash));
      this.inflight.set(kconfigHash, p);
    }
    return p;
  }

  private async build(kind: Kind, recipe: Recipe, dir: string, bundle: string): Promise<TreeBinaries | undefined> {
    const tmp = path.join(this.deps.settings.dataDir, "tmp");
    fs.mkdirSync(tmp, { recursive: true });
    const work = fs.mkdtempSync(path.join(tmp, "kconfig-bin-"));
    try {
      // The sandbox's outputs, as kbs wrote them from its tar: regular files only.
      const outDir = path.join(work, "out");
      const r = await runStaged(this.deps, {
        image: recipe.images.kconfig,
        inputs: { "bundle.tar": { link: bundle } },
        argv: ["/bin/sh", "-c", `${BUILD_SCRIPTS[kind]}${probeScript(recipe)}exit 0\n`],
        cwd: "/work",
        env: { ...kconfigEnv(recipe), KBS_TOOLS_DIR: recipe.kconfigTools.dir },
        timeoutMs: 300_000,
        collect: { into: outDir, maxBytes: 256 * 2 ** 20, maxFiles: 10_000 },
      });
      const tree = path.join(outDir, "tree");
      const built = {
        mconf: fs.existsSync(path.join(tree, recipe.kconfigTools.dir, "mconf")),
        conf: fs.existsSync(path.join(tree, recipe.kconfigTools.dir, "conf")),
        pyc: fs.existsSync(path.join(tree, "lib/kconfiglib/__pycache__")),
      };
      fs.mkdirSync(dir, { recursive: true });
      const refused = r.collected && "error" in r.collected ? r.collected.error : undefined;
      if (r.code !== 0 || refused || !(built.mconf || built.conf || built.pyc)) {
        const buildLog = fs.existsSync(path.join(outDir, "build.log")) ? fs.readFileSync(path.join(outDir, "build.log"), "utf8").slice(-4000) : "";
        fs.writeFileSync(path.join(dir, "failed"), `exit code ${r.code}${r.timedOut ? " (timed out)" : ""}${refused ? ` (outputs refused: ${refused})` : ""}\n${r.stderr.toString().slice(-2000)}\n${buildLog}`);
        log.warn({ dir, kind, code: r.code, refused }, "the tree's own Kconfig tools did not build; the system's serve it");
        return undefined;
      }
      const tar = path.join(dir, "tree-bins.tar");
      const t = await run("tar", ["-cf", `${tar}.tmp`, "-C", tree, "--owner=0", "--group=0", "."]);
      if (t.code !== 0) throw new Error(`cannot pack the tree's Kconfig tools: ${t.stderr.toString()}`);
      fs.renameSync(`${tar}.tmp`, tar);
      fs.writeFileSync(path.join(dir, "tools.json"), JSON.stringify({ ...built, env: readProbedEnv(recipe, outDir) }));
      log.info({ dir, built }, "built the tree's own Kconfig tools");
      const fresh = readCache(dir);
      return fresh ? { ...fresh, env: fresh.env ?? {} } : undefined;
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
  }
}

/** What the cache dir says: built tools, a remembered failure (undefined), or nothing yet (null). */
function readCache(dir: string): (Omit<TreeBinaries, "env"> & { env?: Record<string, string> }) | undefined | null {
  const tar = path.join(dir, "tree-bins.tar");
  const manifest = path.join(dir, "tools.json");
  if (fs.existsSync(tar) && fs.existsSync(manifest)) return { tar, ...(JSON.parse(fs.readFileSync(manifest, "utf8")) as Omit<TreeBinaries, "tar" | "env"> & { env?: Record<string, string> }) };
  return fs.existsSync(path.join(dir, "failed")) ? undefined : null;
}
