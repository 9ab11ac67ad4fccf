import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { procEnv } from "../settings";

/**
 * Fixture repositories for benchmarks and tests, generated at run time (no
 * upstream code is stored): production code (`kbs bench`) builds its fixtures
 * from here, and test/fixtures/fake-firmware.ts re-exports the same generators.
 */

const here = path.dirname(fileURLToPath(import.meta.url));
/** The built-in demo firmware tree (Kconfiglib, Makefile, a real binary). */
export const demoTree = path.resolve(here, "../projects/builtin/demo");

const gitIdentity = {
  GIT_AUTHOR_NAME: "kbs test",
  GIT_AUTHOR_EMAIL: "test@kbs.invalid",
  GIT_COMMITTER_NAME: "kbs test",
  GIT_COMMITTER_EMAIL: "test@kbs.invalid",
};

/**
 * git in a fixture repo with a fixed identity and, when given, a fixed date, so the
 * history a test or the bench makes is the same every time (the one copy tests use too).
 */
export function fixtureGit(dir: string, args: string[], opts: { date?: string; input?: string } = {}): string {
  const dates = opts.date ? { GIT_AUTHOR_DATE: opts.date, GIT_COMMITTER_DATE: opts.date } : {};
  return execFileSync("git", args, {
    cwd: dir,
    encoding: "utf8",
    input: opts.input,
    maxBuffer: 256 * 1024 * 1024,
    env: procEnv({ ...process.env, ...gitIdentity, ...dates }),
  }).trim();
}

const git = (dir: string, args: string[], date: string) => fixtureGit(dir, args, { date });

export interface FakeFirmwareRepo {
  dir: string;
  /** Commit shas by step name, in the order they were made. */
  commits: Record<string, string>;
  /** The kconfig-relevant steps: commits whose Kconfig files differ from their parent's. */
  kconfigChanging: string[];
}

/**
 * A small Klipper-like firmware repo (the demo tree as its first commit) with a
 * history that exercises indexing: commits that touch Kconfig and commits that do
 * not, tags, a branch with its own tag, and a merge.
 *
 *   c1 initial            tag v0.1.0          (kconfig A)
 *   c2 code only                              (kconfig A)
 *   c3 add FEATURE_LCD    tag v0.2.0          (kconfig B)
 *   f1 feature: add USB   on branch feature, tag v0.3.0-rc1 (kconfig C)
 *   c4 docs only                              (kconfig B)
 *   m1 merge feature      tag v0.3.0          (kconfig D = B + C changes)
 *
 * `ownKconfiglib`: copy the system's Kconfiglib into lib/kconfiglib at c1, as
 * Klipper ships its own copy (done at run time: no upstream code is stored in this repo).
 */
export function createFakeFirmwareRepo(dir: string, opts: { ownKconfiglib?: boolean } = {}): FakeFirmwareRepo {
  fs.mkdirSync(dir, { recursive: true });
  fs.cpSync(demoTree, dir, { recursive: true });
  if (opts.ownKconfiglib) {
    const lib = path.join(dir, "lib/kconfiglib");
    fs.mkdirSync(lib, { recursive: true });
    for (const f of ["kconfiglib.py", "menuconfig.py", "olddefconfig.py", "savedefconfig.py", "genconfig.py"]) {
      fs.copyFileSync(path.join("/usr/lib/python3/dist-packages", f), path.join(lib, f));
    }
  }
  const commits: Record<string, string> = {};
  let t = 1_700_000_000;
  const commit = (name: string, msg: string) => {
    t += 3600;
    const date = `${t} +0000`;
    git(dir, ["add", "-A"], date);
    git(dir, ["commit", "-q", "-m", msg], date);
    commits[name] = git(dir, ["rev-parse", "HEAD"], date);
    return date;
  };
  const tag = (name: string) => git(dir, ["tag", "-a", name, "-m", name], `${t} +0000`);
  const append = (rel: string, text: string) => fs.appendFileSync(path.join(dir, rel), text);

  git(dir, ["init", "-q", "-b", "master"], `${t} +0000`);
  commit("c1", "initial demo firmware");
  tag("v0.1.0");

  append("src/main.c", "/* code-only change */\n");
  commit("c2", "main: comment");

  append("src/Kconfig", '\nconfig FEATURE_LCD\n    bool "LCD display"\n    default n\n');
  commit("c3", "Kconfig: add FEATURE_LCD");
  tag("v0.2.0");

  git(dir, ["checkout", "-q", "-b", "feature"], `${t} +0000`);
  append("src/arch/host/Kconfig", '\nconfig HOST_USB\n    bool "USB gadget"\n    depends on ARCH_HOST\n    default y\n');
  commit("f1", "host: add USB option");
  tag("v0.3.0-rc1");

  git(dir, ["checkout", "-q", "master"], `${t} +0000`);
  append("README", "More docs.\n");
  commit("c4", "docs");

  t += 3600;
  git(dir, ["merge", "-q", "--no-ff", "-m", "merge feature", "feature"], `${t} +0000`);
  commits.m1 = git(dir, ["rev-parse", "HEAD"], `${t} +0000`);
  tag("v0.3.0");

  return { dir, commits, kconfigChanging: ["c1", "c3", "f1", "m1"] };
}

export interface HistoryRepo {
  /** A bare repository (use it as a `--url` path upstream). */
  dir: string;
  /** Commits on master after this call. */
  commits: number;
  /** Distinct kconfig trees on master (the first commit's plus one per kconfig change). */
  kconfigTrees: number;
}

const genKconfig = "src/gen/Kconfig";
const genCode = "src/gen/version.c";
const epoch = 1_600_000_000;

/** Which of `count` commits change the kconfig tree: `changes` of them, spread evenly. */
function spread(count: number, changes: number): Set<number> {
  const out = new Set<number>();
  for (let k = 0; k < Math.min(changes, count); k++) out.add(Math.floor(((k + 0.5) * count) / changes));
  return out;
}

function symbolBlock(k: number): string {
  return `\nconfig GEN_OPTION_${k}\n    bool "Generated option ${k}"\n    default ${k % 2 ? "y" : "n"}\n`;
}

function dataCmd(text: string): string {
  return `data ${Buffer.byteLength(text)}\n${text}\n`;
}

/**
 * A long, Klipper-shaped history made with `git fast-import` in seconds: the demo
 * tree (whose src/Kconfig sources src/gen/Kconfig), then `commits` commits of which
 * `kconfigChanges` add a symbol to src/gen/Kconfig and the rest touch only C code;
 * an annotated tag every `tagEvery` commits (v1.0, v1.1, ...). For revdb's index
 * throughput figure: 20,000 commits with 300 kconfig changes is the issue's size.
 */
export function generateHistoryRepo(dir: string, opts: { commits: number; kconfigChanges: number; tagEvery?: number }): HistoryRepo {
  fs.mkdirSync(dir, { recursive: true });
  execFileSync("git", ["init", "-q", "--bare", "-b", "master", dir]);
  const files: Array<[string, string]> = [];
  const walk = (rel: string) => {
    for (const e of fs.readdirSync(path.join(demoTree, rel), { withFileTypes: true })) {
      const r = path.posix.join(rel, e.name);
      if (e.isDirectory()) walk(r);
      else files.push([r, fs.readFileSync(path.join(demoTree, r), "utf8")]);
    }
  };
  walk("");
  const base = files.map(([p, text]) => [p, p === "src/Kconfig" ? `${text}\nsource "${genKconfig}"\n` : text] as [string, string]);
  return extendHistory(dir, { ...opts, baseFiles: base, start: 0, kconfigSoFar: 0 });
}

/**
 * Add commits on top of a repo made by generateHistoryRepo (the incremental-index
 * figure: one new commit, with or without a kconfig change).
 */
export function appendHistory(dir: string, opts: { commits: number; kconfigChanges: number }): HistoryRepo {
  const start = Number(execFileSync("git", ["rev-list", "--count", "master"], { cwd: dir, encoding: "utf8" }).trim());
  const current = execFileSync("git", ["cat-file", "-p", `master:${genKconfig}`], { cwd: dir, encoding: "utf8" });
  const kconfigSoFar = (current.match(/^config GEN_OPTION_/gm) ?? []).length;
  return extendHistory(dir, { ...opts, start, kconfigSoFar });
}

function extendHistory(
  dir: string,
  o: { commits: number; kconfigChanges: number; tagEvery?: number; baseFiles?: Array<[string, string]>; start: number; kconfigSoFar: number },
): HistoryRepo {
  const changing = spread(o.commits, o.kconfigChanges);
  let kconfig = "# generated options\n";
  for (let k = 0; k < o.kconfigSoFar; k++) kconfig += symbolBlock(k);
  let symbols = o.kconfigSoFar;
  const chunks: string[] = [];
  for (let i = 0; i < o.commits; i++) {
    const n = o.start + i;
    const when = `${epoch + n * 600} +0000`;
    const ops: string[] = [];
    if (n === 0) {
      for (const [p, text] of o.baseFiles ?? []) ops.push(`M 100644 inline ${p}\n${dataCmd(text)}`);
      ops.push(`M 100644 inline ${genKconfig}\n${dataCmd(kconfig)}`);
    }
    // fast-import does not continue a branch it did not create: name the old tip.
    const from = i === 0 && n > 0 ? "from refs/heads/master^0\n" : "";
    let msg = `code: build ${n}`;
    if (changing.has(i)) {
      kconfig += symbolBlock(symbols++);
      ops.push(`M 100644 inline ${genKconfig}\n${dataCmd(kconfig)}`);
      msg = `Kconfig: add GEN_OPTION_${symbols - 1}`;
    }
    ops.push(`M 100644 inline ${genCode}\n${dataCmd(`const int build_number = ${n};\n`)}`);
    chunks.push(
      `commit refs/heads/master\nmark :${i + 1}\nauthor kbs bench <bench@kbs.invalid> ${when}\ncommitter kbs bench <bench@kbs.invalid> ${when}\n${dataCmd(msg)}${from}${ops.join("")}`,
    );
    if (o.tagEvery && (n + 1) % o.tagEvery === 0) {
      const name = `v1.${(n + 1) / o.tagEvery - 1}`;
      chunks.push(`tag ${name}\nfrom :${i + 1}\ntagger kbs bench <bench@kbs.invalid> ${when}\n${dataCmd(name)}`);
    }
  }
  execFileSync("git", ["fast-import", "--quiet", "--done"], { cwd: dir, input: chunks.join("") + "done\n", maxBuffer: 64 * 1024 * 1024 });
  return { dir, commits: o.start + o.commits, kconfigTrees: symbols + 1 };
}
