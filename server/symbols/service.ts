import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Db } from "../core/db";
import { chooseArch } from "../configs/kconfig-env";
import { helperScript, type KconfigTools } from "../configs/kconfig-tools";
import type { ConfigStore, StoredConfig } from "../configs/store";
import { log } from "../core/log";
import type { ProjectRegistry } from "../projects/registry";
import type { Recipe } from "../core/recipe";
import type { RevDb } from "../revdb/revdb";
import { LoadedIndex } from "./loaded";
import { changedParts, DIGEST_VERSION, SymbolIndexStore } from "./store";
import { KbsError, invalid, notFound, unprocessable } from "../core/errors";
import type { ConfigValuesFile, SymbolEntry, SymbolHistory, SymbolHit, SymbolIndexFile, SymbolValue } from "../../contracts/symbols";

type HistoryChange = SymbolHistory["changes"][number];

/** The index builder bound read-only into the sandbox (it never runs on the host). */
export const indexScript = path.join(path.dirname(fileURLToPath(import.meta.url)), "symbol_index.py");

/** symbol_index.py's output format (checked on what it prints). */
const INDEX_FORMAT = 1;
/** The helpers' own code is part of every variant: a changed helper re-indexes instead of serving what the old one made. */
const helperCode = crypto
  .createHash("sha256")
  .update(fs.readFileSync(indexScript))
  .update(fs.readFileSync(helperScript))
  .digest("hex");
/** Index builds at once: each is a sandbox parsing a whole tree. */
const BUILD_CONCURRENCY = 2;
/** History waits for at most this many missing indexes; more are built in the background. */
const HISTORY_INLINE_BUILDS = 8;
const LOADED_KEEP = 12;
const HISTORY_KEEP = 2000;

const SYMBOL_NAME = /^[A-Za-z0-9_]{1,200}$/;

export interface SymbolServiceDeps {
  db: Db;
  settings: { dataDir: string };
  projects: ProjectRegistry;
  revdb: RevDb;
  kconfig: KconfigTools;
  configs: ConfigStore;
}

/** A small counting semaphore. */
class Limiter {
  private active = 0;
  private waiting: Array<() => void> = [];
  constructor(private readonly max: number) {}
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.max) await new Promise<void>((r) => this.waiting.push(r));
    this.active++;
    try {
      return await fn();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}

/** A Map that forgets its oldest entries past `max`. */
class Lru<V> extends Map<string, V> {
  constructor(private readonly max: number) {
    super();
  }
  touch(key: string): V | undefined {
    const v = super.get(key);
    if (v !== undefined) {
      this.delete(key);
      super.set(key, v);
    }
    return v;
  }
  override set(key: string, v: V): this {
    this.delete(key);
    super.set(key, v);
    while (this.size > this.max) this.delete(this.keys().next().value!);
    return this;
  }
}

export function checkSymbolName(name: string): void {
  if (!SYMBOL_NAME.test(name)) {
    throw invalid("bad_symbol_name", `'${name.slice(0, 60)}' is not a Kconfig symbol name: names are letters, digits and underscores (e.g. SERIAL_8250), at most 200 of them.`);
  }
}

/**
 * The symbol explorer: one index per kconfig tree (and parse variant), built once in a
 * sandbox by symbol_index.py with Kconfiglib and kept in the store; search, lookups,
 * a config's values with their reasons, and a symbol's history over a project's
 * distinct trees.
 */
export class SymbolService {
  readonly store: SymbolIndexStore;
  private loaded = new Lru<LoadedIndex>(LOADED_KEEP);
  private inflight = new Map<string, Promise<LoadedIndex>>();
  private valuesInflight = new Map<string, Promise<ConfigValuesFile>>();
  private histories = new Lru<SymbolHistory>(HISTORY_KEEP);
  private backfills = new Map<string, Promise<void>>();
  private limiter = new Limiter(BUILD_CONCURRENCY);
  /** Per project, revdb's tree runs as of an index generation. */
  private trees = new Map<string, { generation: number; runs: ReturnType<RevDb["treeRuns"]>; hashes: string[] }>();
  private indexedCache = new Map<string, { version: number; indexed: Map<string, string | null> }>();

  constructor(private readonly deps: SymbolServiceDeps) {
    this.store = new SymbolIndexStore(path.join(deps.settings.dataDir, "symbols"), deps.db);
  }

  /** What else than the tree an index depends on: the helpers' code, the digest version, the entry, the environment and the ARCH. */
  variant(recipe: Recipe, arch?: string): string {
    const a = chooseArch(recipe, arch);
    return crypto
      .createHash("sha256")
      .update(JSON.stringify([helperCode, DIGEST_VERSION, recipe.entry, recipe.frontend, recipe.kconfigEnv, a ?? null]))
      .digest("hex")
      .slice(0, 16);
  }

  /** The index of a tree, built in a sandbox the first time (concurrent callers share the build). */
  async index(project: string, kconfigHash: string, arch?: string): Promise<LoadedIndex> {
    const { recipe } = this.deps.projects.require(project);
    const variant = this.variant(recipe, arch);
    const key = `${kconfigHash}/${variant}`;
    const hit = this.loaded.touch(key);
    if (hit) return hit;
    let p = this.inflight.get(key);
    if (!p) {
      p = (async () => {
        const stored = this.store.has(kconfigHash, variant) ? this.store.read(kconfigHash, variant) : undefined;
        const file = stored ?? (await this.build(project, kconfigHash, variant, arch));
        const loaded = new LoadedIndex(file);
        this.loaded.set(key, loaded);
        return loaded;
      })().finally(() => this.inflight.delete(key));
      this.inflight.set(key, p);
    }
    return p;
  }

  private build(project: string, kconfigHash: string, variant: string, arch?: string): Promise<SymbolIndexFile> {
    return this.limiter.run(async () => {
      if (this.store.has(kconfigHash, variant)) return this.store.read(kconfigHash, variant)!;
      const t0 = performance.now();
      const r = await this.deps.kconfig.runHelper(project, { kconfigHash }, { script: indexScript, args: ["index"], arch, maxOutputBytes: 512 * 2 ** 20, timeoutMs: 300_000 });
      let file: SymbolIndexFile | undefined;
      if (r.code === 0) {
        try {
          file = JSON.parse(r.stdout.toString("utf8")) as SymbolIndexFile;
        } catch {
          file = undefined;
        }
      }
      if (!file || file.format !== INDEX_FORMAT) {
        const why = r.timedOut ? "it took too long" : r.stderr.toString("utf8").trim().split("\n").slice(-4).join(" | ") || `exit code ${r.code}`;
        throw new KbsError("unavailable", "symbol_index_failed", `Indexing the symbols of ${project}'s tree (kconfig ${kconfigHash.slice(0, 12)}) failed: ${why.slice(0, 600)}. Try again.`);
      }
      const ms = performance.now() - t0;
      this.store.put(kconfigHash, variant, file, ms);
      log.debug({ project, kconfigHash, symbols: file.symbols?.length ?? 0, error: file.error, ms: Math.round(ms) }, "symbol index built");
      return file;
    });
  }

  /** The parsed index of a revision, or a 422 naming the parse error. */
  private async parsed(project: string, rev: string, arch?: string): Promise<{ index: LoadedIndex; revision: ReturnType<RevDb["resolve"]> }> {
    const revision = this.deps.revdb.resolve(project, rev);
    const index = await this.index(project, revision.kconfigHash, arch);
    if (index.file.error !== undefined) {
      throw unprocessable("kconfig_unparsable", `${project} ${revision.describe}: its Kconfig does not parse, so there is no symbol index (menuconfig sessions still work). Kconfiglib said: ${index.file.error.slice(0, 1000)}`);
    }
    return { index, revision };
  }

  async search(project: string, rev: string, q: string, limit: number, arch?: string): Promise<{ rev: string; describe: string; kconfigHash: string; total: number; symbols: SymbolHit[] }> {
    this.deps.projects.require(project);
    const { index, revision } = await this.parsed(project, rev, arch);
    return { rev: revision.sha, describe: revision.describe, kconfigHash: revision.kconfigHash, total: index.byName.size, symbols: index.search(q, limit) };
  }

  async lookup(
    project: string,
    rev: string,
    name: string,
    opts: { configId?: string; arch?: string } = {},
  ): Promise<SymbolEntry & { rev: string; describe: string; kconfigHash: string; kconfiglib: string; config?: ({ id: string; describe: string } & (SymbolValue | { value: null; inConfig: false; why: { kind: "absent" } })) }> {
    this.deps.projects.require(project);
    checkSymbolName(name);
    const { index, revision } = await this.parsed(project, rev, opts.arch);
    const entry = index.get(name);
    if (!entry) {
      const close = index.search(name.slice(0, Math.max(3, Math.ceil(name.length / 2))), 5).map((h) => h.name);
      throw notFound("unknown_symbol", `${project} ${revision.describe} has no symbol ${name}${close.length ? `; did you mean ${close.join(", ")}?` : "."}`, { closeMatches: close });
    }
    const out = { ...entry, rev: revision.sha, describe: revision.describe, kconfigHash: revision.kconfigHash, kconfiglib: index.file.kconfiglib };
    if (!opts.configId) return out;
    const config = this.deps.configs.require(opts.configId);
    if (config.project !== project) throw invalid("config_of_other_project", `Config ${config.id.slice(0, 12)} is a ${config.project} config, not one of ${project}.`);
    const values = await this.configValues(config, opts.arch);
    const v = values.symbols[entry.name];
    return { ...out, config: { id: config.id, describe: config.describe, ...(v ?? { value: null, inConfig: false as const, why: { kind: "absent" as const } }) } };
  }

  /** Every symbol's value in a config and why, computed once per config in a sandbox. */
  configValues(config: StoredConfig, arch?: string): Promise<ConfigValuesFile> {
    const { recipe } = this.deps.projects.require(config.project);
    const variant = this.variant(recipe, arch);
    const cached = this.store.values(config.id, variant);
    if (cached) return Promise.resolve(cached);
    const key = `${config.id}/${variant}`;
    let p = this.valuesInflight.get(key);
    if (!p) {
      p = (async () => {
        const r = await this.deps.kconfig.runHelper(config.project, { kconfigHash: config.kconfigHash }, { script: indexScript, args: ["values"], stdin: config.text, arch, maxOutputBytes: 256 * 2 ** 20 });
        if (r.code !== 0) {
          const why = r.timedOut ? "it took too long" : r.stderr.toString("utf8").trim().split("\n").slice(-4).join(" | ") || `exit code ${r.code}`;
          throw unprocessable("kconfig_failed", `Reading config ${config.id.slice(0, 12)} against its tree failed: ${why.slice(0, 600)}`);
        }
        const values = JSON.parse(r.stdout.toString("utf8")) as ConfigValuesFile;
        this.store.putValues(config.id, variant, values);
        return values;
      })().finally(() => this.valuesInflight.delete(key));
      this.valuesInflight.set(key, p);
    }
    return p;
  }

  /** Build the indexes a project's distinct trees lack, in the background (one run per project at a time). */
  backfill(project: string, arch?: string): Promise<void> {
    const { recipe } = this.deps.projects.require(project);
    const variant = this.variant(recipe, arch);
    const key = `${project}/${variant}`;
    let p = this.backfills.get(key);
    if (!p) {
      const hashes = this.deps.revdb.hashes(project);
      const have = this.store.indexed(variant, hashes);
      const missing = hashes.filter((h) => !have.has(h));
      p = Promise.all(
        missing.map((h) =>
          this.index(project, h, arch).then(
            () => undefined,
            (e: Error) => log.warn({ project, kconfigHash: h, err: e.message }, "symbol index not built"),
          ),
        ),
      )
        .then(() => undefined)
        .finally(() => this.backfills.delete(key));
      this.backfills.set(key, p);
    }
    return p;
  }

  /** Which of a project's trees have an index (and which of those parsed), read again only after an index was stored. */
  private indexedTrees(project: string, generation: number, variant: string, hashes: string[]): Map<string, string | null> {
    const key = `${project}\0${generation}\0${variant}`;
    const hit = this.indexedCache.get(key);
    if (hit && hit.version === this.store.version) return hit.indexed;
    const indexed = this.store.indexed(variant, hashes);
    this.indexedCache.set(key, { version: this.store.version, indexed });
    return indexed;
  }

  /**
   * A symbol across the project's history, one step per run of commits with the same
   * kconfig tree (revdb's distinct trees in commit order): the first and last revision
   * that have it and each revision where its definition changed, appeared or went. Trees not indexed yet are built (a few at once; many in the background, and
   * `trees.pending` says how many are still to come); trees that do not parse are skipped.
   */
  async history(project: string, name: string, arch?: string): Promise<SymbolHistory> {
    const { recipe } = this.deps.projects.require(project);
    checkSymbolName(name);
    const variant = this.variant(recipe, arch);
    const generation = this.deps.revdb.generation(project);
    let trees = this.trees.get(project);
    if (trees?.generation !== generation) {
      const runs = this.deps.revdb.treeRuns(project);
      trees = { generation, runs, hashes: [...new Set(runs.map((r) => r.hash))] };
      this.trees.set(project, trees);
    }
    const { runs, hashes } = trees;
    if (!hashes.length) throw notFound("no_revisions", `${project} has no indexed revisions yet; sync it first.`);
    let indexed = this.indexedTrees(project, generation, variant, hashes);
    const missing = hashes.length - indexed.size;
    if (missing > 0) {
      const running = this.backfill(project, arch);
      if (missing <= HISTORY_INLINE_BUILDS) {
        await running;
        indexed = this.indexedTrees(project, generation, variant, hashes);
      }
    }
    const key = `${project}\0${generation}\0${variant}\0${indexed.size}\0${name}`;
    const cached = this.histories.touch(key);
    if (cached) return cached;

    const digests = this.store.digests(name, variant);
    const changes: HistoryChange[] = [];
    let prev: string | null | undefined;
    let first: SymbolHistory["first"] = null;
    let last: SymbolHistory["last"] = null;
    for (const run of runs) {
      // trees not indexed yet, or whose Kconfig does not parse, say nothing about the symbol
      if (indexed.get(run.hash) !== null) continue;
      const d = digests.get(run.hash) ?? null;
      if (d) {
        first ??= { rev: run.first.describe, sha: run.first.sha };
        last = { rev: run.last.describe, sha: run.last.sha };
      }
      if (d !== (prev ?? null) && !(prev === undefined && d === null)) {
        const at = { rev: run.first.describe, sha: run.first.sha };
        if (!prev) changes.push({ ...at, kind: "added" });
        else if (!d) changes.push({ ...at, kind: "removed" });
        else changes.push({ ...at, kind: "changed", parts: changedParts(prev, d) });
      }
      prev = d;
    }
    const unparsed = [...indexed.values()].filter((e) => e !== null).length;
    const pending = hashes.length - indexed.size;
    if (!first && pending === 0) {
      throw notFound("unknown_symbol", `No revision of ${project} has a symbol ${name} (${indexed.size - unparsed} trees searched${unparsed ? `, ${unparsed} did not parse` : ""}).`);
    }
    const history: SymbolHistory = {
      symbol: name,
      first,
      last,
      changes,
      trees: { total: hashes.length, indexed: indexed.size, unparsed, pending },
    };
    this.histories.set(key, history);
    return history;
  }
}
