import { z } from "zod";
import { buildStates } from "./build-states";

/**
 * What the kbs JSON API returns (DESIGN.md "HTTP API"), as zod schemas with the types
 * inferred from them: the server's routes are typed with these, the pages read them,
 * and the API tests parse real responses with them. The symbol explorer's views are
 * in ./symbols.ts.
 */

// --- projects and revisions

export const SyncState = z.object({
  state: z.enum(["never", "syncing", "ok", "failed"]),
  message: z.string().optional(),
  /** ISO 8601 */
  lastTried: z.string().optional(),
  lastOk: z.string().optional(),
  progress: z.object({ phase: z.string(), done: z.number(), total: z.number() }).optional(),
});
export type SyncState = z.infer<typeof SyncState>;

/** GET /api/projects (a list), GET /api/projects/:id: the recipe by id, with what the chooser needs from it. */
export const ProjectSummary = z.object({
  id: z.string(),
  name: z.string(),
  recipe: z.string(),
  frontend: z.enum(["kconfiglib", "mconf"]),
  /** The ARCH choices of the tree (Linux); empty when it has none. */
  arches: z.array(z.string()),
  /** Whether the recipe has board presets. */
  presets: z.boolean(),
  upstream: z.discriminatedUnion("kind", [
    z.object({ kind: z.literal("git"), url: z.string() }),
    z.object({ kind: z.literal("tarball"), revName: z.string() }),
    z.object({ kind: z.literal("builtin"), version: z.number() }),
  ]),
  revisions: z.number(),
  sync: SyncState,
});
export type ProjectSummary = z.infer<typeof ProjectSummary>;

/** POST /api/projects/:id/sync (202) */
export const SyncStarted = z.object({ id: z.string(), sync: SyncState });
export type SyncStarted = z.infer<typeof SyncStarted>;

/** GET /api/projects/:id/revisions (a list), GET /api/projects/:id/revisions/:rev */
export const Revision = z.object({
  sha: z.string(),
  describe: z.string(),
  /** committer date, ISO 8601 */
  date: z.string(),
  /** "tag:v0.2.0", "branch:master" */
  refs: z.array(z.string()),
  kconfigHash: z.string(),
  /** How many other revisions of the project have the same kconfig tree. */
  sameKconfigCount: z.number(),
});
export type Revision = z.infer<typeof Revision>;

/** What a config, session or build records of the revision it was made for. */
const RevisionPin = z.object({ project: z.string(), rev: z.string(), commit: z.string(), describe: z.string() });

// --- sessions

/** POST /api/sessions (201) */
export const CreatedSession = z.object({ id: z.string(), wsPath: z.string(), kconfigHash: z.string() });
export type CreatedSession = z.infer<typeof CreatedSession>;

/** A session as its record keeps it (DELETE /api/sessions/:id returns this with state "ended"). */
const SessionRecord = RevisionPin.extend({
  id: z.string(),
  kconfigHash: z.string(),
  createdAt: z.string(),
  endedAt: z.string().nullable(),
  endReason: z.string().nullable(),
  configId: z.string().nullable(),
});
export const EndedSession = SessionRecord.extend({ state: z.literal("ended") });
export type EndedSession = z.infer<typeof EndedSession>;

/** GET /api/sessions/:id */
export const SessionDetails = SessionRecord.extend({
  state: z.enum(["active", "ending", "ended"]),
  wsPath: z.string(),
  /** The live session's sandbox, its menuconfig's Kconfiglib, and whether it was launched ahead of need; null once ended. */
  sandbox: z.string().nullable(),
  frontend: z.enum(["tree", "system"]).nullable(),
  primed: z.boolean().nullable(),
  /** ISO 8601: when a dropped session ends unless its page comes back. */
  lingersUntil: z.string().nullable(),
});
export type SessionDetails = z.infer<typeof SessionDetails>;

/** POST /api/sessions/:id/leave (202) */
export const SessionLeft = z.object({ id: z.string() });
export type SessionLeft = z.infer<typeof SessionLeft>;

// --- configs

/** POST /api/configs (201, or 200 when stored already) */
export const CreatedConfig = z.object({ id: z.string(), warnings: z.array(z.string()) });
export type CreatedConfig = z.infer<typeof CreatedConfig>;

export const ChangedSymbol = z.object({ symbol: z.string(), value: z.string(), default: z.string() });
export type ChangedSymbol = z.infer<typeof ChangedSymbol>;

/** GET /api/configs/:id */
export const StoredConfig = RevisionPin.extend({
  id: z.string(),
  kconfigHash: z.string(),
  createdAt: z.string(),
  /** The canonical form (sorted, no comments): what the id covers. */
  text: z.string(),
  /** The .config as the tree's own tools write it (Kconfig order, menu comments). */
  written: z.string(),
  /** The minimal form (savedefconfig). */
  defconfig: z.string(),
  changed: z.array(ChangedSymbol),
  /** Symbols whose values run commands when the config is built. */
  runsCode: z.array(z.string()),
});
export type StoredConfig = z.infer<typeof StoredConfig>;

const Assignment = z.object({ symbol: z.string(), value: z.string() });
const ValueChange = z.object({ symbol: z.string(), from: z.string(), to: z.string() });

/** GET /api/configs/:a/diff/:b */
export const ConfigDiff = z.object({
  a: z.string(),
  b: z.string(),
  added: z.array(Assignment),
  removed: z.array(Assignment),
  changed: z.array(ValueChange),
});
export type ConfigDiff = z.infer<typeof ConfigDiff>;

/** What upgrading a config to another revision changes. */
export const UpgradeChanges = z.object({
  new: z.array(Assignment.extend({ prompt: z.string().nullable() })),
  removed: z.array(Assignment),
  changed: z.array(ValueChange),
});
export type UpgradeChanges = z.infer<typeof UpgradeChanges>;

const RevisionRef = z.object({ rev: z.string(), describe: z.string(), commit: z.string() });

/** POST /api/configs/:id/upgrade (201) */
export const UpgradedConfig = UpgradeChanges.extend({ configId: z.string().optional(), from: RevisionRef, to: RevisionRef });
export type UpgradedConfig = z.infer<typeof UpgradedConfig>;

/** GET /api/configs/:id/latest: what upgrading to the branch head would change (nothing stored). */
export const LatestRevision = UpgradeChanges.extend({ latest: RevisionRef.extend({ branch: z.string() }).nullable() });
export type LatestRevision = z.infer<typeof LatestRevision>;

/** GET /api/kernel/arches */
export const KernelArches = z.object({ arches: z.array(z.string()), default: z.string().nullable() });
export type KernelArches = z.infer<typeof KernelArches>;

/** POST /api/kernel/start */
/** `arch` is absent for trees without an ARCH choice. */
export const KernelStarted = z.object({ id: z.string(), arch: z.string().optional() });
export type KernelStarted = z.infer<typeof KernelStarted>;

/** POST /api/configs/start */
export const ConfigStarted = z.object({ id: z.string(), variant: z.string().optional() });
export type ConfigStarted = z.infer<typeof ConfigStarted>;

// --- builds

const BuildState = z.enum(buildStates);

export const Artifact = z.object({ name: z.string(), size: z.number(), sha256: z.string(), url: z.string() });
export type Artifact = z.infer<typeof Artifact>;

/** A verify run: the same key rebuilt on a fresh work tree without ccache, every artifact compared by sha256. */
export const Verification = z.object({
  state: z.enum(["running", "done", "failed"]),
  /** null while running, or when the rebuild itself failed (`error` says why). */
  reproducible: z.boolean().nullable(),
  differences: z.array(z.object({ name: z.string(), offset: z.number().nullable(), sha256: z.string().nullable(), rebuiltSha256: z.string().nullable() })),
  error: z.string().nullable(),
  startedAt: z.string(),
  finishedAt: z.string().nullable(),
});
export type Verification = z.infer<typeof Verification>;

/** GET /api/builds/:id (and POST /api/builds, cancel, pin, verify) */
export const Build = RevisionPin.extend({
  id: z.string(),
  state: BuildState,
  configId: z.string(),
  /** The config's symbols whose values run commands when built. */
  runsCode: z.array(z.string()),
  recipe: z.object({ id: z.string(), version: z.number() }),
  cached: z.boolean(),
  queuePosition: z.number().nullable(),
  /** Estimated seconds until the build ends; null without history. */
  eta: z.number().nullable(),
  attempt: z.number(),
  failedStep: z.string().nullable(),
  errorSummary: z.string().nullable(),
  artifacts: z.array(Artifact),
  /** manifest.json (schema 1); null while there is none or once expired. */
  manifest: z.record(z.string(), z.unknown()).nullable(),
  pinned: z.boolean(),
  /** Artifacts were removed by retention; a rebuild makes them again. */
  expired: z.boolean(),
  /** The last rebuild-and-compare: true|false, null when never verified or running. */
  reproducible: z.boolean().nullable(),
  verification: Verification.nullable(),
  logUrl: z.string(),
  createdAt: z.string(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
});
export type Build = z.infer<typeof Build>;

/** GET /api/builds?config=ID: the latest builds of one config. */
export const BuildSummary = z.object({
  id: z.string(),
  state: BuildState,
  describe: z.string(),
  reproducible: z.boolean().nullable(),
  verification: Verification.nullable(),
  finishedAt: z.string().nullable(),
});
export type BuildSummary = z.infer<typeof BuildSummary>;

/** GET /api/builds/:id/flash: the board file's lines (config from a preset), else the recipe's rule for the config. */
export const FlashGuidance = z.object({
  source: z.enum(["board", "config", "none"]),
  board: z.object({ file: z.string(), title: z.string() }).optional(),
  text: z.array(z.string()),
  commands: z.array(z.string()),
  downloads: z.array(z.object({ artifact: z.string(), saveAs: z.string(), url: z.string() })),
});
export type FlashGuidance = z.infer<typeof FlashGuidance>;

// --- board presets

export const PresetQuestion = z.object({
  id: z.string(),
  kind: z.string(),
  text: z.string(),
  context: z.string(),
  options: z.array(z.object({ symbol: z.string(), label: z.string() })),
});
export type PresetQuestion = z.infer<typeof PresetQuestion>;

/** GET /api/projects/:id/revisions/:rev/presets (a list) */
export const PresetSummary = z.object({
  id: z.string(),
  title: z.string(),
  file: z.string(),
  mcu: z.string().nullable(),
  complete: z.boolean(),
  questions: z.array(PresetQuestion),
});
export type PresetSummary = z.infer<typeof PresetSummary>;

const FlashLines = z.object({ lines: z.array(z.string()), saveAs: z.string().nullable() });
const PresetMatch = z.object({ phrase: z.string(), symbol: z.string(), prompt: z.string(), how: z.string() });
const PresetOffer = z.object({ text: z.string(), phrases: z.array(z.string()) });

/** GET /api/projects/:id/revisions/:rev/presets/:preset */
export const PresetDetails = PresetSummary.extend({ header: z.string(), flash: FlashLines, matched: z.array(PresetMatch), offers: z.array(PresetOffer) });
export type PresetDetails = z.infer<typeof PresetDetails>;

/** POST /api/presets (201, or 200 when stored already) */
export const CreatedPresetConfig = z.object({ configId: z.string(), preset: z.string(), complete: z.boolean(), questions: z.array(PresetQuestion), matched: z.array(PresetMatch) });
export type CreatedPresetConfig = z.infer<typeof CreatedPresetConfig>;

/** GET /api/configs/:id/preset (and POST): the board file a config was made from. */
export const PresetOrigin = z.object({
  configId: z.string(),
  project: z.string(),
  commit: z.string(),
  preset: z.string(),
  file: z.string(),
  title: z.string(),
  header: z.string(),
  flash: FlashLines,
  questions: z.array(PresetQuestion),
  offers: z.array(PresetOffer),
  matched: z.array(PresetMatch),
});
export type PresetOrigin = z.infer<typeof PresetOrigin>;

// --- printer profiles

export const PrinterPartView = z.object({
  role: z.string(),
  configId: z.string(),
  rev: z.string(),
  describe: z.string(),
  commit: z.string(),
  board: z.object({ file: z.string(), title: z.string() }).nullable(),
  lastBuild: z.object({ id: z.string(), state: BuildState, describe: z.string() }).nullable(),
  /** How to flash the last build, once it succeeded. */
  flash: FlashGuidance.nullable(),
});
export type PrinterPartView = z.infer<typeof PrinterPartView>;

/** GET /api/printers/:id */
export const PrinterView = z.object({
  id: z.string(),
  name: z.string(),
  project: z.string(),
  upgradedFrom: z.string().nullable(),
  createdAt: z.string(),
  parts: z.array(PrinterPartView),
});
export type PrinterView = z.infer<typeof PrinterView>;

/** POST /api/printers (201) */
export const CreatedPrinter = z.object({ id: z.string() });
export type CreatedPrinter = z.infer<typeof CreatedPrinter>;

/** POST /api/printers/:id/build */
export const PrinterBuilds = z.object({ builds: z.array(z.object({ role: z.string(), id: z.string(), state: BuildState })) });
export type PrinterBuilds = z.infer<typeof PrinterBuilds>;

/** POST /api/printers/:id/upgrade (201): a new profile. */
export const UpgradedPrinter = z.object({ id: z.string(), parts: z.array(UpgradeChanges.extend({ role: z.string(), from: z.string(), to: z.string() })) });
export type UpgradedPrinter = z.infer<typeof UpgradedPrinter>;

// --- build workers

/** GET /api/workers */
export const WorkerList = z.object({
  workers: z.array(
    z.object({
      name: z.string(),
      token: z.string(),
      /** Builds it runs at once. */
      slots: z.number(),
      /** Recipes it can run, and the images it cannot run with why. */
      recipes: z.array(z.string()),
      refused: z.record(z.string(), z.string()),
      /** Builds it holds now. */
      running: z.array(z.string()),
      jobs: z.number(),
      lastSeen: z.string(),
    }),
  ),
});
export type WorkerList = z.infer<typeof WorkerList>;
