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

/** A verify run: the same key rebuilt on a fresh work tree without ccache, every artifact compared by sha256. */
export interface Verification {
  state: "running" | "done" | "failed";
  /** null while running, or when the rebuild itself failed (`error` says why). */
  reproducible: boolean | null;
  /** Per artifact that differs: its name and the first byte offset where the two differ (the shorter one's length when one is a prefix). */
  differences: Array<{ name: string; offset: number | null; sha256: string | null; rebuiltSha256: string | null }>;
  error: string | null;
  startedAt: string;
  finishedAt: string | null;
}

/** GET /api/builds/:id */
export interface BuildView extends RevisionPin {
  id: string;
  state: BuildState;
  configId: string;
  /** The config's symbols whose values run commands when built (server/configs/runs-code.ts). */
  runsCode: string[];
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
  /** The verify result (true|false), null when never verified or still running; `verification` has the details. */
  reproducible: boolean | null;
  verification: Verification | null;
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
