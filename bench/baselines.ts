import { execFile } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { procEnv, type Env } from "../server/core/settings";
import { msSince, repeat } from "./stats";

/**
 * The baselines every part's bench compares against, measured in the same run as
 * the figure (so the ratio holds on a noisy machine). Suites call these instead of
 * writing their own:
 *
 *   localMenuconfigFirstFrame({dir, title, runs})   local `make menuconfig` in tmux -> ms samples
 *   bareMake({dir, runs})                           `make` outside any sandbox      -> ms samples
 *   lsTreeIndex({repoDir, kconfigPaths})            `git ls-tree` per commit index   -> commits/s
 *   stats(samples)                                  min / median / p95 (from ./stats)
 *
 * and put the samples in `BenchFigure.baseline`, e.g.
 *   { name: "terminal.first-frame.warm", unit: "ms", samples, target: "p50 <= 100 ms",
 *     baseline: { name: "local make menuconfig (tmux)", samples: await localMenuconfigFirstFrame(...) } }
 */
export { stats, repeat, timeMs, msSince, type Stats } from "./stats";

const exec = promisify(execFile);

/** The system Python (the pyenv `python3` on PATH is not what sandboxes run). */
export const systemPython = "/usr/bin/python3";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Local `make menuconfig` on a tree, as a developer would run it in a terminal:
 * each run starts `command` in a fresh detached tmux session of `cols`x`rows` in
 * `dir`, polls `tmux capture-pane -p` every `pollMs` until `title` is on the screen,
 * and records the time from starting the session. A private tmux server (its own
 * socket) is started once, before the runs, and killed after; nothing is left.
 * The demo tree and Klipper-like trees need `PYTHON=/usr/bin/python3` (see systemPython).
 */
export async function localMenuconfigFirstFrame(opts: {
  dir: string;
  /** Text (or a pattern) on the first full frame: the tree's mainmenu title. */
  title: string | RegExp;
  runs: number;
  command?: string;
  env?: Env;
  cols?: number;
  rows?: number;
  pollMs?: number;
  timeoutMs?: number;
}): Promise<number[]> {
  const socketDir = fs.mkdtempSync(path.join(os.tmpdir(), "kbs-bench-tmux-"));
  const socket = path.join(socketDir, "tmux.sock");
  const tmux = (...args: string[]) => exec("tmux", ["-S", socket, ...args], { env: procEnv({ ...process.env, ...opts.env }) });
  const envArgs = Object.entries(opts.env ?? {}).flatMap(([k, v]) => ["-e", `${k}=${v ?? ""}`]);
  const command = opts.command ?? `make menuconfig PYTHON=${systemPython}`;
  // The server itself is started by a keeper session: a developer's terminal is already open.
  await tmux("new-session", "-d", "-s", "keeper", "sleep 3600");
  try {
    return await repeat(
      opts.runs,
      async (i) => {
        const name = `run${i < 0 ? `w${-i}` : i}`;
        const t0 = performance.now();
        await tmux("new-session", "-d", "-s", name, "-x", String(opts.cols ?? 120), "-y", String(opts.rows ?? 40), "-c", opts.dir, ...envArgs, command);
        try {
          const deadline = t0 + (opts.timeoutMs ?? 30_000);
          for (;;) {
            const { stdout } = await tmux("capture-pane", "-p", "-t", name);
            if (typeof opts.title === "string" ? stdout.includes(opts.title) : opts.title.test(stdout)) return msSince(t0);
            if (performance.now() > deadline) throw new Error(`local '${command}' in ${opts.dir} did not show '${String(opts.title)}' within ${opts.timeoutMs ?? 30_000} ms; screen:\n${stdout}`);
            await sleep(opts.pollMs ?? 3);
          }
        } finally {
          // kill-session only hangs up the pane; curses menuconfig then spins on the dead tty.
          // The pane's process is a session leader: kill its whole session first.
          const pane = await tmux("display-message", "-p", "-t", name, "#{pane_pid}").catch(() => undefined);
          const sid = Number(pane?.stdout.trim());
          if (sid > 0) await exec("pkill", ["-KILL", "-s", String(sid)]).catch(() => {});
          await tmux("kill-session", "-t", name).catch(() => {});
        }
      },
      1,
    );
  } finally {
    await tmux("kill-server").catch(() => {});
    fs.rmSync(socketDir, { recursive: true, force: true });
  }
}

/** Wall time of one command run to completion; a non-zero exit throws with the end of its output. */
export async function timeCommand(argv: readonly string[], opts: { cwd: string; env?: Env }): Promise<number> {
  const t0 = performance.now();
  try {
    await exec(argv[0]!, argv.slice(1), { cwd: opts.cwd, env: procEnv({ ...process.env, ...opts.env }), maxBuffer: 64 * 1024 * 1024 });
  } catch (e) {
    const err = e as { stderr?: string; stdout?: string; message: string };
    throw new Error(`'${argv.join(" ")}' in ${opts.cwd} failed: ${(err.stderr || err.stdout || err.message).slice(-2000)}`);
  }
  return msSince(t0);
}

/**
 * Bare `make` of a tree outside any sandbox: each run does `clean` (untimed), then
 * times `argv`. The tree must already hold its `.config` (run olddefconfig first).
 */
export async function bareMake(opts: {
  dir: string;
  runs: number;
  argv?: string[];
  clean?: string[];
  env?: Env;
}): Promise<number[]> {
  const argv = opts.argv ?? ["make", "-j2", `PYTHON=${systemPython}`];
  const clean = opts.clean ?? ["make", "clean"];
  return repeat(opts.runs, async () => {
    await timeCommand(clean, { cwd: opts.dir, env: opts.env });
    return timeCommand(argv, { cwd: opts.dir, env: opts.env });
  });
}

/** A recipe `kconfigPaths` glob (`**` any depth, `*` within a segment) as a RegExp over tree paths. */
export function globToRegExp(glob: string): RegExp {
  let re = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === "*" && glob[i + 1] === "*") {
      const slash = glob[i + 2] === "/";
      re += slash ? "(?:.*/)?" : ".*";
      i += slash ? 2 : 1;
    } else if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else re += c.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}

export interface LsTreeIndexResult {
  commits: number;
  ms: number;
  commitsPerSec: number;
  distinctTrees: number;
}

/**
 * The naive index the revdb must beat: for every commit (`git rev-list --all`, at
 * most `maxCommits`, stopping after `maxMs`), one `git ls-tree -r` process, the
 * entries filtered by the recipe globs and hashed. Throughput in commits/s is what
 * compares; a time budget keeps it short on 20,000 commits.
 */
export async function lsTreeIndex(opts: { repoDir: string; kconfigPaths: string[]; maxCommits?: number; maxMs?: number }): Promise<LsTreeIndexResult> {
  const globs = opts.kconfigPaths.map(globToRegExp);
  const { stdout } = await exec("git", ["rev-list", "--all"], { cwd: opts.repoDir, maxBuffer: 256 * 1024 * 1024 });
  const shas = stdout.split("\n").filter(Boolean).slice(0, opts.maxCommits ?? Infinity);
  const hashes = new Set<string>();
  const t0 = performance.now();
  let done = 0;
  for (const sha of shas) {
    const tree = await exec("git", ["ls-tree", "-r", "-z", "--full-tree", sha], { cwd: opts.repoDir, maxBuffer: 256 * 1024 * 1024 });
    const entries = tree.stdout
      .split("\0")
      .filter(Boolean)
      .map((line) => {
        const [meta, p] = line.split("\t") as [string, string];
        const [mode, , blob] = meta.split(" ");
        return { p, line: `${mode} ${blob} ${p}` };
      })
      .filter((e) => globs.some((g) => g.test(e.p)))
      .sort((a, b) => (a.p < b.p ? -1 : a.p > b.p ? 1 : 0));
    hashes.add(crypto.createHash("sha256").update(entries.map((e) => e.line).join("\n")).digest("hex"));
    done++;
    if (opts.maxMs && performance.now() - t0 > opts.maxMs) break;
  }
  const ms = msSince(t0);
  return { commits: done, ms, commitsPerSec: done / (ms / 1000), distinctTrees: hashes.size };
}
