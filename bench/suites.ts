import fs from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { BenchSuite } from "./types";

const suitesDir = path.join(path.dirname(fileURLToPath(import.meta.url)), "suites");

/** One entry of the bench: a suite file, relative to bench/suites/. */
export interface SuiteEntry {
  name: string;
  file: string;
  /** What the suite measures, for `kbs bench --help` and the skipped rows. */
  about: string;
}

/**
 * Every suite `kbs bench` runs, in order (cheap first), each a file in bench/suites/;
 * a missing file is reported as skipped.
 */
export const suites: SuiteEntry[] = [
  { name: "baseline", file: "baseline.ts", about: "the shared baselines on the demo tree (local menuconfig, bare make, ls-tree index)" },
  { name: "revdb", file: "revdb.ts", about: "index throughput full/incremental, bundle size ratio, revisions query" },
  { name: "sandbox", file: "sandbox.ts", about: "warm claim to first byte, cold spawn, memory per warm sandbox, 100 concurrent" },
  { name: "terminal", file: "terminal.ts", about: "menuconfig first frame warm/cold vs local, keystroke latency, memory per session, save round trip" },
  { name: "qemu", file: "qemu.ts", about: "KBS_SANDBOX=qemu: the first session on a Klipper-sized tree after sync (warm pool, not primed), and the next one primed, vs local menuconfig" },
  { name: "linux-sized", file: "linux-sized.ts", about: "sessions on a Linux-sized kernel tree (1,700 Kconfig files, 19,000 symbols): back to back, 5 s apart, first after sync vs warm unprimed" },
  { name: "builds", file: "builds.ts", about: "cache hit, sandbox overhead vs bare make, ccache rebuild, queue throughput" },
  { name: "builds-large", file: "builds-large.ts", about: "a cold sandboxed build of a Klipper-sized tree (thousands of files, tens of MB) against bare make in a git clone, per step" },
  { name: "symbols", file: "symbols.ts", about: "symbol index time (fake Linux, Klipper-sized), search/lookup latency, history across 300 kconfig trees cold/cached" },
  { name: "remote-builds", file: "remote-builds.ts", about: "remote workers: throughput with 1 and 2 beside the embedded queue, remote vs local build overhead" },
  { name: "vm", file: "vm.ts", about: "VM image size and boot time, Linux figures when the tarball exists" },
  { name: "presets", file: "presets.ts", about: "board preset extraction per revision vs one olddefconfig, cached list, share of fixture board files mapped completely" },
  { name: "load", file: "load.ts", about: "concurrent sessions typing and saving while builds run, through the real server" },
  { name: "capacity", file: "capacity.ts", about: "sessions typing at a person's rate (2 keys/s, bursts of 10) with keystroke p95 <= 30 ms, beside CPU per redraw and the ceiling" },
  { name: "project", file: "project.ts", about: "with --project ID: session and build figures on a project the operator added" },
];

/** Load a suite; throws "not landed" when its file does not exist, or when it exports no suite. */
export async function loadSuite(entry: SuiteEntry): Promise<BenchSuite> {
  const file = path.join(suitesDir, entry.file);
  if (!fs.existsSync(file)) throw new NotLanded(`not landed (bench/suites/${entry.file} does not exist yet)`);
  const mod = (await import(pathToFileURL(file).href)) as { suite?: unknown; default?: unknown };
  const fn = mod.suite ?? mod.default;
  if (typeof fn !== "function") throw new Error(`bench/suites/${entry.file} exports no suite (export const suite: BenchSuite)`);
  return fn as BenchSuite;
}

/** A suite whose part is not in this tree yet. */
export class NotLanded extends Error {}
