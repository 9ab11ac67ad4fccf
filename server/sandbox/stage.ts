import fs from "node:fs";
import path from "node:path";
import { GUEST_IN } from "../core/guest-paths";
import { unprocessable } from "../core/errors";
import { Staging } from "./staging";
import type { Bind, RunRequest, RunResult } from "./types";

/**
 * What goes into a sandbox's /kbs/in, by file name: `{ link }` a host file that never
 * changes (a bundle tar, built tools: hard-linked when on the same filesystem, else
 * copied), `{ copy }` a host file copied, or the contents themselves.
 */
export type Inputs = Record<string, { link: string } | { copy: string } | string | Buffer>;

/** A hard link when on the same filesystem (bundles are immutable), else a copy. */
function linkOrCopy(from: string, to: string): void {
  try {
    fs.linkSync(from, to);
  } catch {
    fs.copyFileSync(from, to);
  }
}

/** Put `inputs` into `dir` (a staged dir, or a warm sandbox's inDir), each readable by the sandbox's own uid. */
export function placeInputs(dir: string, inputs: Inputs): void {
  for (const [name, input] of Object.entries(inputs)) {
    const to = path.join(dir, name);
    if (typeof input === "string" || Buffer.isBuffer(input)) {
      fs.writeFileSync(to, input);
      fs.chmodSync(to, 0o644);
    } else if ("link" in input) linkOrCopy(input.link, to);
    else fs.copyFileSync(input.copy, to);
  }
}

/** How a failed run becomes an error: `<what> failed: <the tool's last stderr lines>`. */
export interface FailureText {
  /** The error's code (`kconfig_failed`, `tree_script_failed`). */
  code: string;
  /** What was run, in the user's words: "Kconfig olddefconfig on linux's tree (kconfig 1a2b3c4d5e6f)". */
  what: string;
  /** How many of stderr's last lines the message quotes; default 5. */
  lines?: number;
}

export interface StagedRun extends Omit<RunRequest, "binds"> {
  /** Handed in read-only at /kbs/in, in a dir made under the staging root and removed after the run. */
  inputs: Inputs;
  /** Further binds beside /kbs/in (a download cache). */
  binds?: Bind[];
  /** When given, a run that does not exit 0 throws an unprocessable KbsError (HTTP 422) instead of returning. */
  failure?: FailureText;
}

export interface StageDeps {
  settings: { stagingDir: string };
  sandbox: { run(req: RunRequest): Promise<RunResult> };
}

/**
 * Hand files to a one-shot sandbox, run it, and clean up: `inputs` go into a fresh dir
 * under the neutral staging root (sandbox/staging.ts) bound read-only at /kbs/in; with
 * `collect`, the job's /kbs/out comes back into `collect.into` (sandbox/collector.ts).
 * With `failure`, a failed run is the error a user sees, naming what failed and what the
 * tool printed last (the lines also in `details.stderr`).
 */
export async function runStaged(deps: StageDeps, job: StagedRun): Promise<RunResult> {
  const { inputs, binds, failure, ...req } = job;
  const staged = new Staging(deps.settings.stagingDir).make();
  let r: RunResult;
  try {
    placeInputs(staged.dir, inputs);
    r = await deps.sandbox.run({ ...req, binds: [{ host: staged.dir, guest: GUEST_IN }, ...(binds ?? [])] });
  } finally {
    staged.remove();
  }
  if (failure && r.code !== 0) throw runFailure(r, failure);
  return r;
}

/** A failed run as an unprocessable KbsError: the message names it and quotes the tool's last stderr lines, which `details.stderr` carries. */
export function runFailure(r: RunResult, failure: FailureText) {
  const text = r.stderr.toString("utf8").trim();
  const lines = text ? text.split("\n").slice(-(failure.lines ?? 5)) : [];
  const why = r.timedOut ? "it took too long" : lines.join(" | ") || `exit code ${r.code}`;
  return unprocessable(failure.code, `${failure.what} failed: ${why.slice(0, 800)}`, lines.length ? { stderr: lines } : undefined);
}
