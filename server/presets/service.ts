import type { PresetOrigin } from "../../contracts/api";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { helperScript, type KconfigTools } from "../configs/kconfig-tools";
import { migrate, type Db } from "../core/db";
import { GUEST_IN } from "../core/guest-paths";
import { histogram } from "../core/metrics";
import type { PresetsSpec, Recipe } from "../core/recipe";
import type { Revision } from "../core/revision";
import { writeTar } from "../core/tar";
import type { RunRequest, RunResult } from "../sandbox/types";
import { listBoardFiles, readBoardFiles, type BoardFile } from "./boards";
import { invalid, notFound, unprocessable } from "../core/errors";

/** The header parser and matcher, bound read-only into the sandbox beside kconfig_helper.py. */
export const presetsHelper = path.join(path.dirname(fileURLToPath(import.meta.url)), "presets_helper.py");

const Option = z.object({ symbol: z.string().max(200), label: z.string().max(400) });
const Question = z.object({
  id: z.string().max(100),
  kind: z.string().max(40),
  text: z.string().max(2000),
  context: z.string().max(1000).default(""),
  options: z.array(Option).max(1000),
});
const Matched = z.object({ phrase: z.string().max(1000), symbol: z.string().max(200), prompt: z.string().max(400), how: z.string().max(40) });
const Analysed = z.object({
  id: z.string().max(300),
  file: z.string().max(1000),
  title: z.string().max(400),
  header: z.string().max(32 * 1024),
  flash: z.object({ lines: z.array(z.string().max(8000)).max(100), saveAs: z.string().max(100).nullable() }),
  mcu: z.string().max(200).nullable(),
  complete: z.boolean(),
  status: z.enum(["complete", "questions", "none"]),
  questions: z.array(Question).max(200),
  matched: z.array(Matched).max(200),
  offers: z.array(z.object({ text: z.string().max(1000), phrases: z.array(z.string().max(200)).max(50) })).max(50),
  assignments: z.array(z.tuple([z.string().max(200), z.string().max(1000)])).max(500),
  badAnswers: z.array(z.object({ question: z.string().max(200), answer: z.string().max(200), why: z.string().max(200) })).max(50),
});
const Failed = z.object({ id: z.string().max(300), file: z.string().max(1000), status: z.literal("failed"), error: z.string().max(1000) });
const ExtractOutput = z.object({ presets: z.array(z.union([Analysed, Failed])).max(5000) });
const ApplyOutput = Analysed.extend({ config: z.string().max(2 * 1024 * 1024) });

export type Preset = z.infer<typeof Analysed>;
export type PresetQuestion = z.infer<typeof Question>;
/** What the list shows of a preset (DESIGN.md: {id, title, file, mcu, complete, questions[]}). */
export type PresetSummary = Pick<Preset, "id" | "title" | "file" | "mcu" | "complete" | "questions">;

export interface PresetSet {
  presets: Preset[];
  failed: Array<z.infer<typeof Failed>>;
  /** Board files without configuration instructions (examples, samples). */
  none: number;
  extractMs: number;
  cached: boolean;
}

const schema = {
  part: "presets",
  migrations: [
    `CREATE TABLE preset_sets (
       key TEXT PRIMARY KEY,
       project TEXT NOT NULL,
       kconfig_hash TEXT NOT NULL,
       json TEXT NOT NULL,
       extract_ms INTEGER NOT NULL,
       created_at TEXT NOT NULL
     );
     CREATE TABLE config_presets (
       config_id TEXT PRIMARY KEY,
       json TEXT NOT NULL
     );`,
  ],
};

const extractSeconds = histogram("kbs_preset_extract_seconds", "Board preset extraction per revision (sandbox run)", ["project"], [0.25, 0.5, 1, 2, 5, 10, 30, 60]);

export interface PresetDeps {
  db: Db;
  settings: { dataDir: string; stagingDir: string };
  sandbox: { run(req: RunRequest): Promise<RunResult> };
  bundles: { ensure(kconfigHash: string): Promise<string> };
  gitref: { dir: string };
  projects: { require(id: string): { id: string; recipe: Recipe } };
  revdb: { resolve(project: string, rev: string): Revision };
  configs: { put(input: { project: string; commit: string; rev: string; text: string }): { id: string; created: boolean } };
  kconfig: KconfigTools;
}

const helperHash = () =>
  crypto
    .createHash("sha256")
    .update(fs.readFileSync(presetsHelper))
    .update(fs.readFileSync(helperScript))
    .digest("hex");

/**
 * Board presets from a revision's own board files (Klipper's config/*.cfg). Extraction runs
 * in a sandbox (the files are untrusted; parsing the Kconfig runs the tree's code) and is
 * cached by what it reads: the helper, the recipe's preset spec, the kconfig tree and the
 * board files' blob ids, so revisions that change neither share one extraction.
 */
export class PresetService {
  private inflight = new Map<string, Promise<PresetSet>>();
  private readonly helper = helperHash();

  constructor(private readonly deps: PresetDeps) {
    migrate(deps.db, schema);
  }

  private spec(project: string): { recipe: Recipe; spec: PresetsSpec } {
    const { recipe } = this.deps.projects.require(project);
    if (!recipe.presets) throw notFound("no_presets", `Project '${project}' (recipe ${recipe.id}) has no board presets; start from an empty or uploaded config instead.`);
    return { recipe, spec: recipe.presets };
  }

  /** Every preset of a revision (extracted once per distinct input). */
  async set(project: string, rev: string): Promise<PresetSet & { revision: Revision }> {
    const { recipe, spec } = this.spec(project);
    const revision = this.deps.revdb.resolve(project, rev);
    const listed = await listBoardFiles(this.deps.gitref.dir, revision.sha, spec.boardFiles);
    const key = crypto
      .createHash("sha256")
      .update(JSON.stringify(["kbs-presets-1", this.helper, spec, recipe.entry, recipe.kconfigEnv, revision.kconfigHash, listed.map((f) => [f.path, f.blob])]))
      .digest("hex");
    const row = this.deps.db.prepare("SELECT json, extract_ms FROM preset_sets WHERE key = ?").get(key) as { json: string; extract_ms: number } | undefined;
    if (row) return { ...(JSON.parse(row.json) as Omit<PresetSet, "cached" | "extractMs">), extractMs: row.extract_ms, cached: true, revision };
    let p = this.inflight.get(key);
    if (!p) {
      p = this.extract(project, recipe, spec, revision, listed, key).finally(() => this.inflight.delete(key));
      this.inflight.set(key, p);
    }
    return { ...(await p), revision };
  }

  async list(project: string, rev: string, q?: string, limit = 500): Promise<PresetSummary[]> {
    const { presets } = await this.set(project, rev);
    const words = (q ?? "").toLowerCase().split(/[\s\-_]+/).filter(Boolean);
    const hay = (p: Preset) => `${p.id} ${p.title} ${p.mcu ?? ""}`.toLowerCase().replace(/[-_]+/g, " ");
    return presets
      .filter((p) => words.every((w) => hay(p).includes(w)))
      .slice(0, limit)
      .map(({ id, title, file, mcu, complete, questions }) => ({ id, title, file, mcu, complete, questions }));
  }

  async get(project: string, rev: string, id: string): Promise<Preset> {
    const set = await this.set(project, rev);
    const p = set.presets.find((x) => x.id === id);
    if (!p) {
      const near = set.presets.filter((x) => x.id.includes(id.slice(0, 12).toLowerCase())).slice(0, 5).map((x) => x.id);
      throw notFound(
        "unknown_preset",
        `${project} ${set.revision.describe} has no board preset '${id.slice(0, 100)}'${near.length ? `; did you mean ${near.join(", ")}?` : "; search the revision's board presets for its id."}`,
      );
    }
    return p;
  }

  /** A config from a preset and the user's answers, stored like any saved config; remembers where it came from. */
  async create(req: { project: string; rev: string; preset: string; answers?: Record<string, string> }): Promise<{ configId: string; created: boolean; preset: Preset }> {
    const { spec } = this.spec(req.project);
    const known = await this.get(req.project, req.rev, req.preset);
    const revision = this.deps.revdb.resolve(req.project, req.rev);
    const file = (await listBoardFiles(this.deps.gitref.dir, revision.sha, spec.boardFiles)).filter((f) => f.path === known.file);
    const boards = await readBoardFiles(this.deps.gitref.dir, file);
    const r = await this.runHelper(req.project, spec, revision, boards, ["apply", "--file", known.file, "--answers", JSON.stringify(req.answers ?? {})]);
    const out = this.parse(ApplyOutput, r, "apply");
    if (out.badAnswers.length) {
      throw invalid("bad_answer", `Answers that do not fit preset '${known.id}': ${out.badAnswers.map((b) => `${b.question} = ${b.answer} (${b.why})`).join("; ")}.`, { questions: out.questions });
    }
    const { id, created } = this.deps.configs.put({ project: req.project, commit: revision.sha, rev: req.rev, text: out.config });
    const { config: _config, ...preset } = out;
    const origin: PresetOrigin = {
      configId: id,
      project: req.project,
      commit: revision.sha,
      preset: preset.id,
      file: preset.file,
      title: preset.title,
      header: preset.header,
      flash: preset.flash,
      questions: preset.questions,
      offers: preset.offers,
      matched: preset.matched,
    };
    this.deps.db.prepare("INSERT INTO config_presets (config_id, json) VALUES (?, ?) ON CONFLICT(config_id) DO UPDATE SET json = excluded.json").run(id, JSON.stringify(origin));
    return { configId: id, created, preset };
  }

  /** A config saved in a session that started from a preset config keeps that preset as its origin. */
  link(configId: string, from: string, project: string): PresetOrigin {
    const origin = this.origin(from);
    if (!origin) throw notFound("no_preset", "The config named in 'from' was not made from a board preset.");
    if (origin.project !== project) throw invalid("config_project_mismatch", `Config ${from.slice(0, 12)}… belongs to project '${origin.project}', not '${project}'.`);
    const linked = { ...origin, configId };
    this.deps.db.prepare("INSERT INTO config_presets (config_id, json) VALUES (?, ?) ON CONFLICT(config_id) DO NOTHING").run(configId, JSON.stringify(linked));
    return this.origin(configId)!;
  }

  /** The preset a config was made from, if it was. */
  origin(configId: string): PresetOrigin | undefined {
    const row = this.deps.db.prepare("SELECT json FROM config_presets WHERE config_id = ?").get(configId) as { json: string } | undefined;
    return row && (JSON.parse(row.json) as PresetOrigin);
  }

  private async extract(project: string, recipe: Recipe, spec: PresetsSpec, revision: Revision, listed: Array<{ path: string; blob: string; size: number }>, key: string): Promise<PresetSet> {
    const started = performance.now();
    const boards = await readBoardFiles(this.deps.gitref.dir, listed);
    const r = await this.runHelper(project, spec, revision, boards, ["extract"]);
    const out = this.parse(ExtractOutput, r, "extract");
    const presets: Preset[] = [];
    const failed: PresetSet["failed"] = [];
    let none = 0;
    for (const p of out.presets) {
      if (p.status === "failed") failed.push(p);
      else if (p.status === "none") none++;
      else presets.push(p);
    }
    const extractMs = Math.round(performance.now() - started);
    extractSeconds.observe({ project }, extractMs / 1000);
    const set = { presets, failed, none };
    this.deps.db
      .prepare("INSERT INTO preset_sets (key, project, kconfig_hash, json, extract_ms, created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO NOTHING")
      .run(key, project, revision.kconfigHash, JSON.stringify(set), extractMs, new Date().toISOString());
    return { ...set, extractMs, cached: false };
  }

  private parse<T extends z.ZodType>(schema: T, r: RunResult, op: string): z.infer<T> {
    let json: unknown;
    try {
      json = JSON.parse(r.stdout.toString("utf8"));
    } catch {
      throw unprocessable("presets_failed", `Reading the board files (${op}) gave no usable result: ${r.stderr.toString("utf8").trim().split("\n").slice(-3).join(" | ").slice(0, 500) || "empty output"}`);
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) throw unprocessable("presets_failed", `Reading the board files (${op}) gave a result of the wrong shape (${parsed.error.issues[0]?.path.join(".")}: ${parsed.error.issues[0]?.message}).`);
    return parsed.data;
  }

  private async runHelper(project: string, spec: PresetsSpec, revision: Revision, boards: BoardFile[], args: string[]): Promise<RunResult> {
    return this.deps.kconfig.runHelper(project, revision, {
      script: presetsHelper,
      args: [...args, "--boards", `${GUEST_IN}/boards.tar`, "--mcu-choice", spec.mcuChoice],
      files: { "boards.tar": writeTar(boards.map((b) => ({ path: b.path, type: "file", mode: 0o644, data: b.data }))) },
      timeoutMs: 180_000,
      maxOutputBytes: 64 * 1024 * 1024,
      failure: { code: "tree_script_failed", what: `Reading ${project}'s board files at ${revision.describe}` },
    });
  }
}
