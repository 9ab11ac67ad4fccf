import fs from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { BenchSuite } from "./types";

const serverDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** One entry of the bench: a part's suite file, relative to server/. */
export interface SuiteEntry {
  name: string;
  file: string;
  /** What the suite measures, for `kbs bench --help` and the skipped rows. */
  about: string;
}

/**
 * Every suite `kbs bench` runs, in order (cheap first). A part's suite is its
 * `server/<part>/bench.ts`; parts that have not landed are reported as skipped.
 */
export const suites: SuiteEntry[] = [
  { name: "baseline", file: "bench/baseline-suite.ts", about: "the shared baselines on the demo tree (local menuconfig, bare make, ls-tree index)" },
  { name: "revdb", file: "revdb/bench.ts", about: "index throughput full/incremental, bundle size ratio, revisions query" },
  { name: "sandbox", file: "sandbox/bench.ts", about: "warm claim to first byte, cold spawn, memory per warm sandbox, 100 concurrent" },
  { name: "terminal", file: "terminal/bench.ts", about: "menuconfig first frame warm/cold vs local, keystroke latency, memory per session, save round trip" },
  { name: "builds", file: "builds/bench.ts", about: "cache hit, sandbox overhead vs bare make, ccache rebuild, queue throughput" },
  { name: "builds-large", file: "builds/bench-large.ts", about: "a cold sandboxed build of a Klipper-sized tree (thousands of files, tens of MB) against bare make in a git clone, per step" },
  { name: "symbols", file: "symbols/bench.ts", about: "symbol index time (fake Linux, Klipper-sized), search/lookup latency, history across 300 kconfig trees cold/cached" },
  { name: "remote-builds", file: "builds/remote/bench.ts", about: "remote workers: throughput with 1 and 2 beside the embedded queue, remote vs local build overhead" },
  { name: "vm", file: "vm/bench.ts", about: "VM image size and boot time, Linux figures when the tarball exists" },
  { name: "presets", file: "presets/bench.ts", about: "board preset extraction per revision vs one olddefconfig, cached list, share of fixture board files mapped completely" },
  { name: "load", file: "bench/load-suite.ts", about: "concurrent sessions typing and saving while builds run, through the real server" },
  { name: "project", file: "bench/project-suite.ts", about: "with --project ID: session and build figures on a project the operator added" },
];

/** Load a suite; throws "not landed" when its file does not exist, or when it exports no suite. */
export async function loadSuite(entry: SuiteEntry): Promise<BenchSuite> {
  const file = path.join(serverDir, entry.file);
  if (!fs.existsSync(file)) throw new NotLanded(`not landed (server/${entry.file} does not exist yet)`);
  const mod = (await import(pathToFileURL(file).href)) as { suite?: unknown; default?: unknown };
  const fn = mod.suite ?? mod.default;
  if (typeof fn !== "function") throw new Error(`server/${entry.file} exports no suite (export const suite: BenchSuite)`);
  return fn as BenchSuite;
}

/** A suite whose part is not in this tree yet. */
export class NotLanded extends Error {}
