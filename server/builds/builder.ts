import fs from "node:fs";
import path from "node:path";
import { diskFullMessage, isDiskFull, lowOnSpace } from "../core/disk-full";
import { GUEST_DL, GUEST_IN, GUEST_OBJECTS, GUEST_TREE } from "../core/guest-paths";
import type { Settings } from "../core/settings";
import type { ArtifactStore } from "./artifacts";
import type { BuildLogs } from "./logs";
import { buildIdentity, pinnedForManifest } from "./identity";
import { runFetch } from "./fetch";
import { stageExternals, unpackExternals } from "./externals";
import { InputError, stageInputs } from "./inputs";
import { imageId } from "./key";
import { RESERVED_OUTPUT_NAMES } from "../sandbox/untrusted";
import { Staging } from "../sandbox/staging";
import type { Recipe } from "../core/recipe";
import { CCACHE_OUTPUT_TAR, type CompilerCache } from "./ccache";
import { buildScript, reproducer } from "./script";
import { StepClock } from "./timings";
import { toolchainVersions } from "./toolchains";
import { prepareWorkTree } from "./worktree";
import type { TreeCache } from "./tree-cache";
import type { Finish } from "./store";
import { log as serverLog } from "../core/log";
import type { ArtifactRef, BuildDeps, BuildRow, Manifest } from "./types";

const MB = 1024 * 1024;

/**
 * Where a build runs from, so the builder does not care where it runs. Sources and inputs
 * (`deps.projects`, `deps.configs`, `deps.gitref`, `builds`, blobs of `artifacts`) and where
 * results go (`artifacts`, `logs`): on the server, its data dir; on a remote worker
 * (builds/remote/worker.ts), what the server's API handed over, the worker's git mirror and
 * a staging store in its own data dir, uploaded when the attempt ends.
 */
export interface BuilderContext {
  settings: Settings;
  deps: Pick<BuildDeps, "projects" | "gitref" | "sandbox"> & { configs: { require(id: string): { id: string; project: string; text: string } } };
  /** Earlier builds, for inputs (recipe `build.inputs`). */
  builds: { get(id: string): BuildRow | undefined };
  artifacts: ArtifactStore;
  ccache: CompilerCache;
  /** Ready work trees per commit (tree-cache.ts). */
  trees: TreeCache;
  logs: BuildLogs;
  /** -j for this worker: its share of the machine's cores. */
  jobs: number;
  worker: string;
}

export interface RunOptions {
  /** A verify rebuild (verify.ts): no ccache at all. */
  verify?: boolean;
  /** The log to write (a verify run keeps its own beside the build's). */
  logId?: string;
}

/** The limits a build runs under: the recipe's, capped by the operator's settings. */
export function buildLimits(settings: Settings, recipe: { build: { timeoutSec: number; diskMB: number; memoryMB: number } }) {
  const cap = (v: number, c: number) => (c > 0 ? Math.min(v, c) : v);
  return {
    timeoutSec: cap(recipe.build.timeoutSec, settings.builds.timeoutCapSec),
    diskMB: cap(recipe.build.diskMB, settings.builds.diskCapMB),
    memoryMB: recipe.build.memoryMB,
  };
}

/**
 * One attempt of a build, all of it inside a sandbox with no network: the commit is
 * checked out as a git work tree (worktree.ts: gitref's objects borrowed read-only, the
 * project's refs under their upstream names) in the sandbox's size-limited /work, the
 * build identity pinned (identity.ts), the stored config written, the recipe's olddefconfig and steps
 * run, and the artifacts collected under /kbs/out, which comes back as one strictly parsed tar
 * (RunRequest.collect: nothing of the host is writable from the sandbox). Artifacts of earlier builds
 * the config names (recipe `build.inputs`) are verified and placed in /kbs/in first. The host then stores the
 * outputs by hash and writes manifest.json and reproduce.sh (and a recipe's release manifest) last.
 */
export async function runBuild(ctx: BuilderContext, build: BuildRow, attempt: number, signal: AbortSignal, opts: RunOptions = {}): Promise<Finish> {
  const { settings, deps } = ctx;
  const clock = new StepClock(Date.parse(build.createdAt), Date.now());
  const { recipe, externals = [] } = deps.projects.require(build.project);
  const config = deps.configs.require(build.configId);
  const limits = buildLimits(settings, recipe);
  const startedAt = new Date();
  const workRoot = path.join(settings.dataDir, "build-work");
  fs.mkdirSync(workRoot, { recursive: true });
  // kbs's own side of the job (never bound into the sandbox): the outputs, as kbs wrote them from the sandbox's tar.
  const jobDir = fs.mkdtempSync(path.join(workRoot, `${build.id}-${attempt}-`));
  const outDir = path.join(jobDir, "out");
  // What the sandbox sees at /kbs/in, made under the neutral staging root.
  const staged = new Staging(settings.stagingDir).make();
  const inDir = staged.dir;
  const ccacheScope = ctx.ccache.scope({ recipe: recipe.id, image: build.image, project: build.project, client: build.client });
  const log = ctx.logs.writer(opts.logId ?? build.id);
  const say = (line: string) => log.write(`kbs: ${line}\n`);
  try {
    if (attempt > 1) say(`--- attempt ${attempt}: the previous worker stopped without finishing; starting over ---`);
    say(`build ${build.id} on ${ctx.worker}: ${build.project} ${build.describe} (${build.commit}), config ${build.configId}`);
    say(`recipe ${recipe.id} v${recipe.version}, image ${build.image}, -j${ctx.jobs}, limits ${limits.timeoutSec} s, ${limits.memoryMB} MB memory, ${limits.diskMB} MB disk`);

    fs.writeFileSync(path.join(inDir, "config"), config.text);
    const [tree, ready, toolchains] = await Promise.all([
      prepareWorkTree(deps.gitref, build.project, build.commit, inDir),
      readyTree(ctx, recipe, build.commit),
      toolchainVersions(deps.sandbox, recipe.build.image, imageId(recipe.build.image), recipe.build.toolchains.filter((r) => r.packaged).map((r) => r.compiler)).catch(() => ""),
    ]);
    fs.writeFileSync(path.join(inDir, "toolchains.txt"), toolchains);
    await stageExternals(deps.gitref, externals, inDir);
    const identity = buildIdentity(recipe, build.project, tree);
    const script = { recipe, externals: unpackExternals(recipe, externals), image: build.image, jobs: ctx.jobs, commit: build.commit, describe: build.describe, identity };
    fs.writeFileSync(path.join(inDir, "build.sh"), buildScript(script));
    let inputs: Awaited<ReturnType<typeof stageInputs>>;
    try {
      inputs = await stageInputs(recipe, build.inputs, ctx.builds, (h) => ctx.artifacts.path(h), inDir);
    } catch (e) {
      if (!(e instanceof InputError)) throw e;
      say(`input refused: ${e.message}`);
      return { state: "failed", failedStep: "inputs", errorSummary: `Input ${e.message}` };
    }
    for (const r of build.inputs) say(`input ${r.symbol}: ${r.artifact} of build ${r.buildId} (sha256 ${r.sha256}) at ${GUEST_IN}/${r.path}`);

    // A recipe with a fetch stage (Buildroot) gets its sources from the download cache first, in a sandbox of its own.
    const dlDir = path.join(settings.dataDir, "dl");
    if (recipe.build.fetch) {
      fs.mkdirSync(dlDir, { recursive: true });
      const network = settings.sandboxes.allowNetwork;
      say(`step fetch: the sources this config needs, from the download cache ${dlDir} (${network ? "missing ones downloaded: the operator allows the fetch stage the network" : "no network"})`);
      const run = { stdin: deps.gitref.archive(build.commit), cwd: "/work", workSizeBytes: limits.diskMB * MB, timeoutMs: limits.timeoutSec * 1000, signal, onOutput: (chunk: Buffer) => log.write(chunk) };
      const failed = await runFetch({ sandbox: deps.sandbox }, { recipe, dlDir, inDir, outDir: path.join(jobDir, "fetch-out"), network, externals: script.externals, run });
      if (failed) {
        say(failed.errorSummary ?? "the fetch stage failed");
        return failed;
      }
    }
    // The previous build of this scope may still be merging its objects (mergeLater): wait, so this one reads them all.
    if (!opts.verify) await ctx.ccache.ready(ccacheScope);
    const cache = opts.verify ? undefined : ctx.ccache.forBuild(ccacheScope, inDir);
    if (opts.verify) say("verify: a fresh work tree, ccache off; the outputs are compared with the build's");
    clock.mark("sandbox");
    const result = await deps.sandbox.run({
      image: recipe.build.image,
      argv: ["/bin/bash", `${GUEST_IN}/build.sh`],
      cwd: "/work",
      binds: [{ host: inDir, guest: GUEST_IN }, { host: tree.objectsDir, guest: GUEST_OBJECTS }, { host: ready.dir, guest: GUEST_TREE }, ...(cache?.binds ?? []), ...(recipe.build.fetch ? [{ host: dlDir, guest: GUEST_DL }] : [])],
      // Outputs (and the build's new compiler-cache objects) live in the size-limited /work and come back as one strictly parsed tar.
      collect: { into: outDir, maxBytes: limits.diskMB * MB },
      workSizeBytes: limits.diskMB * MB,
      limits: { memoryBytes: limits.memoryMB * MB, fileSizeBytes: limits.diskMB * MB },
      env: cache ? { KBS_IN: GUEST_IN, ...cache.env, PATH: "/usr/lib/ccache:/usr/bin:/bin" } : { KBS_IN: GUEST_IN, CCACHE_DISABLE: "1", PATH: "/usr/bin:/bin" },
      hostname: identity.hostname,
      timeoutMs: limits.timeoutSec * 1000,
      signal,
      onOutput: (chunk) => {
        clock.feed(chunk);
        log.write(chunk);
      },
    });
    clock.mark("store");

    const step = clock.current ?? "checkout";
    if (signal.aborted) {
      say(`cancelled during step '${step}'`);
      return { state: "cancelled", failedStep: step, errorSummary: "Cancelled on request." };
    }
    if (result.timedOut) {
      const msg = `The build passed its time limit of ${limits.timeoutSec} s during step '${step}' and was stopped with its whole process tree.`;
      say(msg);
      return { state: "timed_out", failedStep: step, errorSummary: msg };
    }
    if (result.code !== 0 || step !== "done") {
      await log.close();
      return failure(ctx, opts.logId ?? build.id, step, result.code, limits.diskMB);
    }
    if (!result.collected || "error" in result.collected) {
      const why = result.collected && "error" in result.collected ? result.collected.error : "none came back";
      const msg = lowOnSpace(settings.dataDir)
        ? `${diskFullMessage(settings.dataDir)} The build's outputs could not be taken in (${why}).`
        : `The build's outputs were refused: ${why}. Nothing of this build was stored.`;
      say(msg);
      return { state: "failed", failedStep: "outputs", errorSummary: msg };
    }

    const paths = parsePairs(await readText(path.join(outDir, "paths")));
    const outputs = [...(await storeDir(ctx, path.join(outDir, "artifacts"), false, paths)), ...(await storeDir(ctx, path.join(outDir, "optional"), true, paths))];
    const reserved = [...RESERVED_OUTPUT_NAMES, ...(recipe.build.releaseManifest ? [recipe.build.releaseManifest.name] : [])];
    const taken = outputs.find((a) => (reserved as string[]).includes(a.name));
    if (taken) {
      const msg = `The build produced an output named '${taken.name}' (from ${taken.path}), a name kbs keeps for the files it writes itself. Nothing of this build was stored; rename that output.`;
      say(msg);
      return { state: "failed", failedStep: "artifacts", errorSummary: msg };
    }
    if (!outputs.some((a) => !a.optional)) {
      const msg = `The build finished but produced none of the recipe's artifacts (${recipe.build.artifacts.join(", ")}).`;
      say(msg);
      return { state: "failed", failedStep: "artifacts", errorSummary: msg };
    }
    let release: ArtifactRef | undefined;
    try {
      release = releaseManifest(ctx, recipe.build.releaseManifest, outputs);
    } catch (e) {
      const msg = `The build's ${recipe.build.releaseManifest?.from} is not usable: ${(e as Error).message}.`;
      say(msg);
      return { state: "failed", failedStep: "artifacts", errorSummary: msg };
    }
    if (cache) {
      // After the build is recorded: the merge is kbs's bookkeeping, not part of the build.
      const id = build.id;
      ctx.ccache.mergeLater(ccacheScope, path.join(outDir, CCACHE_OUTPUT_TAR), `${jobDir}-ccache.tar`, (added, e) => {
        if (e) serverLog.warn({ err: e, build: id }, "compiler cache: this build's new objects were not kept");
        else if (added) serverLog.debug({ build: id, bytes: added }, "compiler cache: kept this build's new objects for the project's later builds from the same client");
      });
      say("compiler cache: this build's new objects go into the cache of this project and client once the build is recorded");
    }
    const finishedAt = new Date();
    const manifest: Manifest = {
      schema: 1,
      build: build.id,
      project: build.project,
      rev: build.rev,
      commit: build.commit,
      describe: build.describe,
      configId: build.configId,
      recipe: { id: recipe.id, version: recipe.version },
      image: { name: recipe.build.image, id: build.image },
      toolchain: parsePairs(await readText(path.join(outDir, "toolchain.txt"))),
      pinned: pinnedForManifest(identity),
      jobs: ctx.jobs,
      startedAt: startedAt.toISOString(),
      finishedAt: finishedAt.toISOString(),
      durationMs: finishedAt.getTime() - startedAt.getTime(),
      artifacts: outputs.map(({ name, size, sha256, optional }) => ({ name, size, sha256, optional })),
      ...(inputs.length ? { inputs } : {}),
      ...manifestFields(ctx, recipe.build.manifestFields, outputs),
      timings: clock.timings(),
    };
    const repro = reproducer({
      ...script,
      buildId: build.id,
      project: build.project,
      configId: build.configId,
      configText: config.text,
      artifacts: outputs.filter((a) => !a.optional),
      inputs: build.inputs.flatMap((r) => (r.sha256 ? [{ buildId: r.buildId, artifact: r.artifact, path: r.path, sha256: r.sha256 }] : [])),
    });
    // kbs's own files last, under their reserved names.
    const refs: ArtifactRef[] = [
      ...outputs.map(({ name, size, sha256 }) => ({ name, size, sha256 })),
      ...(release ? [release] : []),
      { name: "manifest.json", ...ctx.artifacts.putBuffer(JSON.stringify(manifest, null, 2) + "\n") },
      { name: "reproduce.sh", ...ctx.artifacts.putBuffer(repro) },
    ];
    for (const a of refs) say(`artifact ${a.name} ${a.size} bytes sha256 ${a.sha256}`);
    say(`succeeded in ${(manifest.durationMs / 1000).toFixed(1)} s`);
    return { state: "succeeded", artifacts: refs };
  } catch (e) {
    if (signal.aborted) return { state: "cancelled", errorSummary: "Cancelled on request." };
    const msg = isDiskFull(e) ? `${diskFullMessage(settings.dataDir)} (${(e as Error).message})` : `The build could not run: ${(e as Error).message}`;
    say(msg);
    return { state: "failed", failedStep: "setup", errorSummary: msg };
  } finally {
    await log.close();
    staged.remove();
    fs.rmSync(jobDir, { recursive: true, force: true });
  }
}

/** The commit's ready work tree (tree-cache.ts), made under the build's own disk and time limits if there is none. */
export function readyTree(ctx: Pick<BuilderContext, "settings" | "deps" | "trees">, recipe: Recipe, commit: string) {
  const limits = buildLimits(ctx.settings, recipe);
  return ctx.trees.ensure({ sandbox: ctx.deps.sandbox, objectsDir: path.join(ctx.deps.gitref.dir, "objects") }, recipe.build.image, commit, {
    diskBytes: limits.diskMB * MB,
    timeoutMs: limits.timeoutSec * 1000,
  });
}

/** A small file kbs wrote from the build's outputs ("" when the build left none). */
async function readText(file: string): Promise<string> {
  const fh = await fs.promises.open(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW).catch(() => undefined);
  if (!fh) return "";
  try {
    const buf = Buffer.alloc(64 * 1024);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    return buf.subarray(0, bytesRead).toString("utf8").trim();
  } finally {
    await fh.close();
  }
}

/** `name<TAB>value` lines written by build.sh. */
function parsePairs(text: string): Record<string, string> {
  return Object.fromEntries(
    text
      .split("\n")
      .map((l) => l.split("\t"))
      .filter((p) => p.length === 2 && p[0])
      .map(([k, v]) => [k!, v!]),
  );
}

/** Recipe `manifestFields`: each field is the first line of an artifact (e.g. kernelVersion from kernel.release); empty ones are left out. */
function manifestFields(ctx: BuilderContext, fields: Record<string, string>, outputs: ArtifactRef[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [field, name] of Object.entries(fields)) {
    const a = outputs.find((o) => o.name === name);
    if (!a) continue;
    const fd = fs.openSync(ctx.artifacts.path(a.sha256), "r");
    try {
      const buf = Buffer.alloc(4096);
      const line = buf.subarray(0, fs.readSync(fd, buf, 0, buf.length, 0)).toString("utf8").split("\n")[0]!.trim();
      if (line) out[field] = line;
    } finally {
      fs.closeSync(fd);
    }
  }
  return out;
}

/** Store every file of a collected-artifacts dir; `path` is where the recipe's glob found it (for the reproducer). */
async function storeDir(ctx: BuilderContext, dir: string, optional: boolean, paths: Record<string, string>) {
  if (!fs.existsSync(dir)) return [];
  const out: Array<ArtifactRef & { optional: boolean; path: string }> = [];
  for (const name of fs.readdirSync(dir).sort()) {
    const file = path.join(dir, name);
    // collectTar wrote only regular files and dirs here; a dir is not an artifact.
    if (!fs.lstatSync(file).isFile()) continue;
    const stored = await ctx.artifacts.putFile(file);
    out.push({ name, ...stored, optional, path: paths[name] ?? name });
  }
  return out;
}

/**
 * Recipe `build.releaseManifest`: the JSON the build left as `from`, with each `assets[]`
 * entry's size and sha256 set from the stored outputs, stored under `name`.
 */
function releaseManifest(ctx: BuilderContext, spec: Recipe["build"]["releaseManifest"], outputs: ArtifactRef[]): ArtifactRef | undefined {
  if (!spec) return undefined;
  const source = outputs.find((o) => o.name === spec.from);
  if (!source) throw new Error("the build did not produce it");
  if (source.size > 1024 * 1024) throw new Error("it is over 1 MB");
  let doc: { assets?: unknown };
  try {
    doc = JSON.parse(fs.readFileSync(ctx.artifacts.path(source.sha256), "utf8")) as { assets?: unknown };
  } catch {
    throw new Error("it is not JSON");
  }
  if (!doc || typeof doc !== "object" || !Array.isArray(doc.assets)) throw new Error("it has no assets list");
  const assets = (doc.assets as Array<{ name?: unknown }>).map((a) => {
    const out = outputs.find((o) => o.name === a?.name);
    if (!out) throw new Error(`it lists the asset ${JSON.stringify(a?.name)}, which is not among the build's outputs`);
    return { name: out.name, size: out.size, sha256: out.sha256 };
  });
  return { name: spec.name, ...ctx.artifacts.putBuffer(JSON.stringify({ ...doc, assets }, null, 2) + "\n") };
}

/** A failed build's record: the step that failed and the last lines of its log (`logId`), disk-full said plainly. */
function failure(ctx: BuilderContext, id: string, step: string, code: number | null, diskMB: number): Finish {
  const tail = ctx.logs.tail(id, 200);
  const last = tail.slice(-20).join("\n");
  const diskFull = tail.some((l) => /No space left on device|File too large/.test(l));
  // A full data disk fails the step's writes to /kbs/out and the log alike: only the free space tells.
  const head = lowOnSpace(ctx.settings.dataDir)
    ? `${diskFullMessage(ctx.settings.dataDir)} Step '${step}' could not write its files.`
    : diskFull
      ? `The build ran out of disk space in its work dir (limit ${diskMB} MB) during step '${step}'.`
      : `Step '${step}' failed${code !== null ? ` (exit code ${code})` : ""}.`;
  return { state: "failed", failedStep: step, errorSummary: `${head}\n${last}` };
}
