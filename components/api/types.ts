// Shapes of the kbs JSON API (DESIGN.md "HTTP API") as the pages read them.
// The server owns these contracts; fields a page can live without are optional.

export interface SyncState {
  state: "never" | "syncing" | "ok" | "failed";
  message?: string;
  lastTried?: string;
  lastOk?: string;
  progress?: { phase: string; done: number; total: number };
}

/** The recipe arrives as its id or as an object; `arches` lists the ARCH choices (Linux). */
export type RecipeRef = string | { id: string; name?: string; arches?: string[] };

export interface ProjectSummary {
  id: string;
  name: string;
  recipe: RecipeRef;
  arches?: string[];
  revisions: number;
  sync?: SyncState;
}

export interface Revision {
  sha: string;
  describe: string;
  refs: string[];
  date: string;
  kconfigHash: string;
  sameKconfigCount?: number;
}

export interface CreatedSession {
  id: string;
  wsPath: string;
  kconfigHash: string;
}

export interface ChangedSymbol {
  symbol: string;
  value: string;
  default: string | null;
}

export interface StoredConfig {
  id: string;
  project: string;
  rev: string;
  commit?: string;
  describe?: string;
  kconfigHash?: string;
  /** The canonical form (sorted, no comments): what the id covers. */
  text: string;
  /** The .config as the tree's own tools write it (Kconfig order, menu comments). */
  written?: string;
  defconfig: string;
  changed: ChangedSymbol[];
  /** Symbols whose values run commands when the config is built. */
  runsCode?: string[];
}

export interface ConfigDiff {
  added: Array<{ symbol: string; value: string }>;
  removed: Array<{ symbol: string; value: string }>;
  changed: Array<{ symbol: string; from: string; to: string }>;
}

export type BuildState = "queued" | "running" | "succeeded" | "failed" | "timed_out" | "cancelled";

export interface Artifact {
  name: string;
  size: number;
  sha256: string;
  url: string;
}

export interface Build {
  id: string;
  state: BuildState;
  project: string;
  rev: string;
  describe?: string;
  configId: string;
  /** The config's symbols whose values run commands when built. */
  runsCode?: string[];
  cached?: boolean;
  queuePosition?: number | null;
  eta?: number | string | null;
  failedStep?: string | null;
  errorSummary?: string | null;
  artifacts: Artifact[];
  manifest?: unknown;
  startedAt?: string | null;
  finishedAt?: string | null;
  pinned?: boolean;
  /** Artifacts were removed by retention; a rebuild makes them again. */
  expired?: boolean;
  /** The last rebuild-and-compare: true|false, null when never verified or running. */
  reproducible?: boolean | null;
  verification?: Verification | null;
}

export interface Verification {
  state: "running" | "done" | "failed";
  reproducible: boolean | null;
  differences: Array<{ name: string; offset: number | null }>;
  error: string | null;
  startedAt: string;
  finishedAt: string | null;
}

/** GET /api/builds?config=ID: the latest builds of one config. */
export interface BuildSummary {
  id: string;
  state: BuildState;
  describe: string;
  reproducible: boolean | null;
  verification: Verification | null;
  finishedAt: string | null;
}

export const finishedBuildStates: readonly BuildState[] = ["succeeded", "failed", "timed_out", "cancelled"];

export function recipeId(p: ProjectSummary): string {
  return typeof p.recipe === "string" ? p.recipe : p.recipe.id;
}

export function projectArches(p: ProjectSummary): string[] {
  return p.arches ?? (typeof p.recipe === "string" ? [] : (p.recipe.arches ?? []));
}
