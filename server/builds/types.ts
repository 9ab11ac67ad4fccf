import type { Build, Verification } from "../../contracts/api";
import type { External } from "../projects/externals";
import type { Readable } from "node:stream";
import { finishedBuildStates, type BuildState } from "../../contracts/build-states";
import type { Recipe } from "../core/recipe";
import type { RunRequest, RunResult } from "../sandbox/types";
import type { RevisionPin } from "../core/revision";
import type { StepTiming } from "./timings";
import type { GitRefView } from "./worktree";

export const isFinal = (s: BuildState) => finishedBuildStates.includes(s);

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
  /** The build identity the build ran with (identity.ts): environment, host and user name, umask, source path. */
  pinned: Record<string, string>;
  jobs: number;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  artifacts: Array<ArtifactRef & { optional: boolean }>;
  /** Artifacts of earlier builds handed in (recipe `build.inputs`); absent when none. */
  inputs?: Array<{ symbol: string; buildId: string; artifact: string; sha256: string }>;
  /** From recipe `build.manifestFields` (first line of an artifact), e.g. the kernel release. */
  kernelVersion?: string;
  /** Where the time went, per step (timings.ts). */
  timings: StepTiming[];
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
  /** The last rebuild-and-compare (verify.ts); null until one was asked for. */
  verification: Verification | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

export type { Verification };

/** GET /api/builds/:id: the contract's view, with the manifest typed as the server writes it. */
export type BuildView = Omit<Build, "manifest"> & { manifest: Manifest | null };

/**
 * What the build part consumes from the others (api-contracts.md), as narrow
 * structural types so the service can be built from the `Kbs` graph or in a test.
 */
export interface BuildDeps {
  /** A project's recipe, and its external trees (projects/externals.ts) where it has them. */
  projects: { require(id: string): { id: string; recipe: Recipe; externals?: External[] } };
  revdb: { resolve(project: string, rev: string): BuildRevision; namedCommits(project: string, limit: number): string[] };
  gitref: GitRefView & { archive(commit: string): Readable };
  configs: {
    require(id: string): { id: string; project: string; text: string; kconfigHash: string; written?: string };
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
