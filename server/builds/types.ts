import type { Readable } from "node:stream";
import type { Recipe } from "../projects/recipe";
import type { RunRequest, RunResult } from "../sandbox/types";
import type { RevisionPin } from "../revdb/revdb";

export const buildStates = ["queued", "running", "succeeded", "failed", "timed_out", "cancelled"] as const;
export type BuildState = (typeof buildStates)[number];
export const finalStates: readonly BuildState[] = ["succeeded", "failed", "timed_out", "cancelled"];
export const isFinal = (s: BuildState) => finalStates.includes(s);

export interface ArtifactRef {
  name: string;
  size: number;
  sha256: string;
}

/** An earlier build's artifact a build takes (recipe `build.inputs`), as resolved when the build was requested. */
export interface BuildInputRef {
  symbol: string;
  buildId: string;
  artifact: string;
  /** Where the build sees it, under /kbs/in. */
  path: string;
  /** null when the id did not resolve; `problem` says why and the build fails at step `inputs`. */
  sha256: string | null;
  problem: string | null;
}

/** manifest.json: what was built, from what, with what, and what came out (TuxMake's metadata.json, smaller). */
export interface Manifest extends RevisionPin {
  schema: 1;
  build: string;
  configId: string;
  recipe: { id: string; version: number };
  image: { name: string; id: string };
  /** First line of `--version` of each tool, captured inside the sandbox. */
  toolchain: Record<string, string>;
  jobs: number;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  artifacts: Array<ArtifactRef & { optional: boolean }>;
  /** Artifacts of earlier builds handed in (recipe `build.inputs`); absent when none. */
  inputs?: Array<{ symbol: string; buildId: string; artifact: string; sha256: string }>;
  /** From recipe `build.manifestFields` (first line of an artifact), e.g. the kernel release. */
  kernelVersion?: string;
  [field: string]: unknown;
}

/** A build as the store keeps it. */
export interface BuildRow {
  id: string;
  key: string;
  project: string;
  rev: string;
  commit: string;
  describe: string;
  configId: string;
  recipe: string;
  recipeVersion: number;
  image: string;
  client: string;
  state: BuildState;
  attempt: number;
  worker: string | null;
  failedStep: string | null;
  errorSummary: string | null;
  artifacts: ArtifactRef[];
  inputs: BuildInputRef[];
  pinned: boolean;
  expired: boolean;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

/** GET /api/builds/:id */
export interface BuildView extends RevisionPin {
  id: string;
  state: BuildState;
  configId: string;
  recipe: { id: string; version: number };
  cached: boolean;
  queuePosition: number | null;
  /** Estimated seconds until the build ends (from past durations of the recipe); null without history. */
  eta: number | null;
  attempt: number;
  failedStep: string | null;
  errorSummary: string | null;
  artifacts: Array<ArtifactRef & { url: string }>;
  manifest: Manifest | null;
  pinned: boolean;
  expired: boolean;
  logUrl: string;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

/**
 * What the build part consumes from the others (api-contracts.md), as narrow
 * structural types so the service can be built from the `Kbs` graph or in a test.
 */
export interface BuildDeps {
  projects: { require(id: string): { id: string; recipe: Recipe } };
  revdb: { resolve(project: string, rev: string): BuildRevision };
  gitref: { archive(sha: string): Readable };
  configs: {
    require(id: string): { id: string; project: string; text: string };
    normalise(text: string, project?: string): string;
  };
  kconfig: { olddefconfig(project: string, revision: BuildRevision, text: string): Promise<string> };
  sandbox: { run(req: RunRequest): Promise<RunResult> };
}

export interface BuildRevision {
  sha: string;
  describe: string;
  kconfigHash: string;
}
