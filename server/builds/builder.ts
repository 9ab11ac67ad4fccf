import fs from "node:fs";
import path from "node:path";
import { diskFullMessage, isDiskFull, lowOnSpace } from "../http/disk-full";
import type { Settings } from "../settings";
import type { ArtifactStore } from "./artifacts";
import type { BuildLogs } from "./logs";
import { DL_GUEST, runFetch } from "./fetch";
import { InputError, stageInputs } from "./inputs";
import { buildScript, reproducer } from "./script";
import type { Finish } from "./store";
import type { ArtifactRef, BuildDeps, BuildRow, Manifest } from "./types";

const MB = 1024 * 1024;

export interface BuilderContext {
  settings: Settings;
  deps: Pick<BuildDeps, "projects" | "configs" | "gitref" | "sandbox">;
  /** Earlier builds, for inputs (recipe `build.inputs`). */
  builds: { get(id: string): BuildRow | undefined };
  artifacts: ArtifactStore;
  logs: BuildLogs;
  /** -j for this worker: its share of the machine's cores. */
  jobs: number;
  worker: string;
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
 * One attempt of a build, all of it inside a sandbox with no network: the commit's tree
 * (`git archive`, streamed to the sandbox's stdin) is unpacked into the sandbox's
 * size-limited /work, the stored config written, the recipe's olddefconfig and steps
 * run, and the artifacts copied out to the one writable bind. Artifacts of earlier builds
 * the config names (recipe `build.inputs`) are verified and placed in /kbs/in first. The host then stores the
 * outputs by hash and writes manifest.json and reproduce.sh beside them.
 */
export async function runBuild(ctx: BuilderContext, build: BuildRow, attempt: number, signal: AbortSignal): Promise<Finish> {
  const { settings, deps } = ctx;
  const recipe = deps.projects.require(build.project).recipe;
  const config = deps.configs.require(build.configId);
  const limits = buildLimits(settings, recipe);
  const startedAt = new Date();
  const workRoot = path.join(settings.dataDir, "build-work");
  fs.mkdirSync(workRoot, { recursive: true });
  const jobDir = fs.mkdtempSync(path.join(workRoot, `${build.id}-${attempt}-`));
  const inDir = path.join(jobDir, "in");
  const outDir = path.join(jobDir, "out");
  fs.mkdirSync(inDir);
  fs.mkdirSync(outDir);
  const ccacheDir = path.join(settings.dataDir, "ccache", `${recipe.id}-${build.image.replace(/[^A-Za-z0-9_.-]/g, "_")}`);
  fs.mkdirSync(ccacheDir, { recursive: true });
  // Shared by concurrent sandboxes that run as different uids: everything in it stays writable by all (CCACHE_UMASK too).
  fs.chmodSync(ccacheDir, 0o777);
  const log = ctx.logs.writer(build.id);
  const say = (line: string) => log.write(`kbs: ${line}\n`);
  try {
    if (attempt > 1) say(`--- attempt ${attempt}: the previous worker stopped without finishing; starting over ---`);
    say(`build ${build.id} on ${ctx.worker}: ${build.project} ${build.describe} (${build.commit}), config ${build.configId}`);
    say(`recipe ${recipe.id} v${recipe.version}, image ${build.image}, -j${ctx.jobs}, limits ${limits.timeoutSec} s, ${limits.memoryMB} MB memory, ${limits.diskMB} MB disk`);

    fs.writeFileSync(path.join(inDir, "config"), config.text);
    const script = { recipe, image: build.image, jobs: ctx.jobs, commit: build.commit, describe: build.describe };
    fs.writeFileSync(path.join(inDir, "build.sh"), buildScript(script));
    let inputs: Awaited<ReturnType<typeof stageInputs>>;
    try {
      inputs = await stageInputs(recipe, build.inputs, ctx.builds, (h) => ctx.artifacts.path(h), inDir);
    } catch (e) {
      if (!(e instanceof InputError)) throw e;
      say(`input refused: ${e.message}`);
      return { state: "failed", failedStep: "inputs", errorSummary: `Input ${e.message}` };
    }
    for (const r of build.inputs) say(`input ${r.symbol}: ${r.artifact} of build ${r.buildId} (sha256 ${r.sha256}) at /kbs/in/${r.path}`);

    // A recipe with a fetch stage (Buildroot) gets its sources from the download cache first, in a sandbox of its own.
    const dlDir = path.join(settings.dataDir, "dl");
    if (recipe.build.fetch) {
      fs.mkdirSync(dlDir, { recursive: true });
      say(`step fetch: the sources this config needs, from the download cache ${dlDir} (no network)`);
      const run = { stdin: deps.gitref.archive(build.commit), cwd: "/work", workSizeBytes: limits.diskMB * MB, timeoutMs: limits.timeoutSec * 1000, signal, onOutput: (chunk: Buffer) => log.write(chunk) };
      const failed = await runFetch({ sandbox: deps.sandbox, dataDir: settings.dataDir }, { recipe, dlDir, inDir, outDir, run });
      if (failed) {
        say(failed.errorSummary ?? "the fetch stage failed");
        return failed;
      }
    }

    const result = await deps.sandbox.run({
      image: recipe.build.image,
      argv: ["/bin/bash", "/kbs/in/build.sh"],
      // The tree streams from `git archive` straight into tar inside the sandbox: no copy on the host.
      stdin: deps.gitref.archive(build.commit),
      cwd: "/work",
      binds: [
        { host: inDir, guest: "/kbs/in" },
        { host: outDir, guest: "/kbs/out", writable: true },
        { host: ccacheDir, guest: "/ccache", writable: true },
        ...(recipe.build.fetch ? [{ host: dlDir, guest: DL_GUEST }] : []),
      ],
      workSizeBytes: limits.diskMB * MB,
      limits: { memoryBytes: limits.memoryMB * MB, fileSizeBytes: limits.diskMB * MB },
      env: { KBS_IN: "/kbs/in", CCACHE_DIR: "/ccache", CCACHE_BASEDIR: "/work/src", CCACHE_MAXSIZE: "2G", CCACHE_UMASK: "000", PATH: "/usr/lib/ccache:/usr/bin:/bin" },
      timeoutMs: limits.timeoutSec * 1000,
      signal,
      onOutput: (chunk) => log.write(chunk),
    });

    const step = readText(path.join(outDir, "step")) || "checkout";
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
      return failure(ctx, build.id, step, result.code, limits.diskMB);
    }

    const paths = parsePairs(readText(path.join(outDir, "paths")));
    const outputs = [...(await storeDir(ctx, path.join(outDir, "artifacts"), false, paths)), ...(await storeDir(ctx, path.join(outDir, "optional"), true, paths))];
    if (!outputs.some((a) => !a.optional)) {
      const msg = `The build finished but produced none of the recipe's artifacts (${recipe.build.artifacts.join(", ")}).`;
      say(msg);
      return { state: "failed", failedStep: "artifacts", errorSummary: msg };
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
      toolchain: parsePairs(readText(path.join(outDir, "toolchain.txt"))),
      jobs: ctx.jobs,
      startedAt: startedAt.toISOString(),
      finishedAt: finishedAt.toISOString(),
      durationMs: finishedAt.getTime() - startedAt.getTime(),
      artifacts: outputs.map(({ name, size, sha256, optional }) => ({ name, size, sha256, optional })),
      ...(inputs.length ? { inputs } : {}),
      ...manifestFields(ctx, recipe.build.manifestFields, outputs),
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
    const refs: ArtifactRef[] = [
      ...outputs.map(({ name, size, sha256 }) => ({ name, size, sha256 })),
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
    fs.rmSync(jobDir, { recursive: true, force: true });
  }
}

function readText(file: string): string {
  try {
    return fs.readFileSync(file, "utf8").trim();
  } catch {
    return "";
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
    if (!fs.statSync(file).isFile()) continue;
    const stored = await ctx.artifacts.putFile(file);
    out.push({ name, ...stored, optional, path: paths[name] ?? name });
  }
  return out;
}

/** A failed build's record: the step that failed and the last lines of its log, disk-full said plainly. */
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
