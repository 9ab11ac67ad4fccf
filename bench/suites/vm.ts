import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { localMenuconfigFirstFrame, msSince } from "../baselines";
import { startKbs } from "../../test/helpers/server";
import { api, LoadTerminal } from "../load";
import type { BenchContext, BenchFigure } from "../types";
import { isFinal } from "../../server/builds/types";
import { createKbs, type Kbs } from "../../server/kbs";
import { startConfig } from "../../server/kernel/start";
import { loadSettings, procEnv } from "../../server/core/settings";
import { primedReady } from "./terminal";
import { fetchVerified, storeSource } from "../../server/vm/assets";
import { bootToMarker } from "../../server/vm/boot";
import type { VmManifest } from "../../server/vm/manifest";

/**
 * VM images and Linux (issue "Kernels and VM images"):
 *  always                 the default VM image (Debian cloud kernel) built through the real
 *                         builder: build time, image size, boot-to-marker under QEMU TCG
 *  with the 6.1 tarball   import + index time; menuconfig first frame through kbs, cold (the
 *  (not with --quick)     tree's mconf built) and warm, against local `make menuconfig` in tmux
 *  --kernel-build         a tinyconfig + tiny-kernel.config bzImage through kbs (its sandbox
 *                         overhead against bare `make` on the host), and the VM image built
 *                         on that kernel build through kbs (build input VM_KERNEL_BUILD_ID)
 */
const LINUX_TARBALL = "/usr/src/linux-source-6.1.tar.xz";
const here = path.dirname(fileURLToPath(import.meta.url));
const exec = promisify(execFile);
const KB = 1024;

async function withKbs<T>(ctx: BenchContext, name: string, fn: (kbs: Kbs) => Promise<T>, env: Record<string, string> = {}): Promise<T> {
  const dataDir = path.join(ctx.workDir, name);
  const kbs = await createKbs(
    loadSettings({ KBS_DATA_DIR: dataDir, KBS_UPSTREAMS: "0", KBS_POOL_SIZE: "0", KBS_BUILD_WORKERS: "1", KBS_LOG_LEVEL: "warn", ...env }),
  );
  try {
    return await fn(kbs);
  } finally {
    await kbs.close();
  }
}

const working = new WeakSet<Kbs>();

/** Build `text` as a config of `project` at `rev` through the real queue and builder; throws with the log tail on failure. */
async function build(kbs: Kbs, project: string, rev: string, text: string, signal?: AbortSignal): Promise<{ id: string; ms: number }> {
  const revision = kbs.revdb.resolve(project, rev);
  const { id: configId } = kbs.configs.put({ project, commit: revision.sha, rev, text });
  // One worker per kbs, however many builds it runs (the VM image follows its kernel build).
  if (!working.has(kbs)) await kbs.builds.startWorkers();
  working.add(kbs);
  const t0 = performance.now();
  const { build } = await kbs.builds.request({ project, rev, configId, client: "bench" });
  while (!isFinal(kbs.builds.get(build.id)!.state)) {
    if (signal?.aborted) {
      kbs.builds.cancel(build.id);
      throw new Error("aborted");
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  const done = kbs.builds.get(build.id)!;
  if (done.state !== "succeeded") throw new Error(`${project} build ${done.state}: ${done.errorSummary ?? ""}\n${kbs.builds.logs.tail(build.id, 30).join("\n")}`);
  return { id: build.id, ms: msSince(t0) };
}

async function verifiedImage(kbs: Kbs, buildId: string, dir: string): Promise<VmManifest> {
  const b = kbs.builds.get(buildId)!;
  return fetchVerified(storeSource(`build ${buildId}`, b.artifacts, (name) => kbs.builds.artifact(b, name).file), dir);
}

async function bootSamples(ctx: BenchContext, manifest: VmManifest, dir: string): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < (ctx.quick ? 2 : 5); i++) samples.push(await bootToMarker(manifest, dir, 180_000));
  return samples;
}

const imageKB = (m: VmManifest) => {
  const size = (name: string) => m.assets.find((a) => a.name === name)!.size;
  return { kernel: size(m.boot.kernel) / KB, initrd: size(m.boot.initrd) / KB };
};

async function defaultImage(ctx: BenchContext): Promise<BenchFigure[]> {
  return withKbs(ctx, "vm-data", async (kbs) => {
    const rev = kbs.revdb.list("vm", { limit: 1 })[0]!.sha;
    ctx.log("vm: building the default image (Debian cloud kernel) through the builder, boot test included");
    const b = await build(kbs, "vm", rev, "", ctx.signal);
    const dir = path.join(ctx.workDir, "vm-default");
    const m = await verifiedImage(kbs, b.id, dir);
    const kb = imageKB(m);
    ctx.log(`vm: ${m.kernel.release}, ${Math.round(kb.kernel + kb.initrd)} KB; booting it to the marker`);
    return [
      { name: "vm.default.build", unit: "s", samples: [b.ms / 1000], note: "default VM image through the builder (sandbox, initramfs, boot test)" },
      { name: "vm.default.image", unit: "KB", samples: [Math.round(kb.kernel + kb.initrd)], note: `kernel ${Math.round(kb.kernel)} KB (${m.kernel.release}) + initramfs ${Math.round(kb.initrd)} KB (${m.boot.initrd})` },
      { name: "vm.default.boot-to-marker", unit: "ms", samples: await bootSamples(ctx, m, dir), note: "QEMU TCG, Debian cloud kernel; PROJECT-FACTS: about 4.5 s here" },
    ];
  }, { KBS_BUILTINS: "1" });
}

async function linuxFigures(ctx: BenchContext): Promise<BenchFigure[]> {
  const why = !fs.existsSync(LINUX_TARBALL)
    ? `${LINUX_TARBALL} is not installed (apt-get install linux-source-6.1)`
    : !ctx.full && !ctx.kernelBuild
      ? "importing the Linux tarball and building its mconf take minutes here (over kbs bench's 15-minute budget): run with --full or --kernel-build"
      : undefined;
  if (why) {
    return ["linux.import", "linux.menuconfig.first-frame.cold", "linux.menuconfig.first-frame.warm", "linux.tinyconfig.bzImage", "vm.tiny.image", "vm.tiny.boot-to-marker"].map((name) => ({
      name,
      unit: "s" as const,
      samples: [],
      skipped: why,
    }));
  }
  const out: BenchFigure[] = [];
  await withKbs(ctx, "linux-data", async (kbs) => {
    ctx.log("linux: importing the 6.1 tarball and indexing it");
    const t0 = performance.now();
    kbs.projects.add({ id: "linux", recipe: "linux", upstream: { kind: "tarball", path: LINUX_TARBALL, revName: "v6.1" } });
    await kbs.sync.sync("linux");
    out.push({ name: "linux.import", unit: "s", samples: [msSince(t0) / 1000], note: "kbs project add --tarball + index + kconfig bundle" });
  });

  // kbs sessions against the local baseline: `make menuconfig` in tmux on the extracted tree.
  const tree = path.join(ctx.workDir, "linux-tree");
  fs.mkdirSync(tree, { recursive: true });
  await exec("tar", ["-xf", LINUX_TARBALL, "-C", tree, "--strip-components=1"], { maxBuffer: 1 << 20 });
  const menu = { dir: tree, title: "Linux/x86", command: "make ARCH=x86_64 menuconfig", timeoutMs: 600_000 };
  const localCold = await localMenuconfigFirstFrame({ ...menu, runs: 1 });
  const localWarm = await localMenuconfigFirstFrame({ ...menu, runs: ctx.quick ? 2 : 5 });
  ctx.log("linux: menuconfig sessions through a kbs server (the first builds the tree's mconf)");
  const kbsFrames = await sessionFirstFrames(path.join(ctx.workDir, "linux-data"), ctx.quick ? 3 : 6);
  out.push({ name: "linux.menuconfig.first-frame.cold", unit: "ms", samples: kbsFrames.slice(0, 1), baseline: { name: "local make menuconfig, mconf compiled first (tmux)", samples: localCold }, note: "POST /api/sessions to the title on the WebSocket; the tree's mconf built and cached" });
  out.push({ name: "linux.menuconfig.first-frame.warm", unit: "ms", samples: kbsFrames.slice(1), baseline: { name: "local make menuconfig (tmux)", samples: localWarm }, target: "p50 <= 300 ms", note: "the next session on the tree: handed a primed session (mconf launched ahead of need, KBS_PRIMED_TREES)" });

  if (!ctx.kernelBuild) {
    for (const name of ["linux.tinyconfig.bzImage", "vm.tiny.image", "vm.tiny.boot-to-marker"]) out.push({ name, unit: "s", samples: [], skipped: "a kernel build takes ~13 min here: run kbs bench --kernel-build" });
    return out;
  }
  // With the built-ins: the vm project's image is then built on the kernel build.
  return withKbs(ctx, "linux-data", async (kbs) => {
    ctx.log("linux: tinyconfig + tiny-kernel.config bzImage through kbs (long)");
    const start = await startConfig(kbs, { project: "linux", rev: "v6.1", start: "tinyconfig" });
    const text = kbs.configs.require(start.id).text + fs.readFileSync(path.join(here, "tiny-kernel.config"), "utf8");
    const k = await build(kbs, "linux", "v6.1", text, ctx.signal);
    ctx.log("linux: the same bzImage with bare make on the host (sandbox overhead baseline)");
    fs.writeFileSync(path.join(tree, ".config"), text);
    await exec("make", ["ARCH=x86_64", "olddefconfig"], { cwd: tree, env: procEnv(process.env) });
    const t0 = performance.now();
    await exec("make", ["ARCH=x86_64", "-j2", "bzImage"], { cwd: tree, env: procEnv(process.env), maxBuffer: 64 << 20 });
    out.push({
      name: "linux.tinyconfig.bzImage",
      unit: "s",
      samples: [k.ms / 1000],
      baseline: { name: "bare make -j2 bzImage on the host", samples: [msSince(t0) / 1000] },
      note: "PROJECT-FACTS: 755 s with make -j2 here",
    });

    const dir = path.join(ctx.workDir, "vm-tiny");
    ctx.log("vm: the default image on that kernel build, through the builder (build input VM_KERNEL_BUILD_ID)");
    const m = await vmImageOnKernel(ctx, kbs, k.id, dir);
    const size = imageKB(m);
    out.push({ name: "vm.tiny.image", unit: "KB", samples: [Math.round(size.kernel + size.initrd)], target: "<= 4096 KB", note: `bzImage ${Math.round(size.kernel)} KB + initramfs ${Math.round(size.initrd)} KB` });
    out.push({ name: "vm.tiny.boot-to-marker", unit: "ms", samples: await bootSamples(ctx, m, dir), target: "p50 <= 5000 ms" });
    return out;
  }, { KBS_BUILTINS: "1" });
}

/** First frames of Linux menuconfig sessions through a real kbs server on `dataDir`: ms from POST /api/sessions to the title. */
async function sessionFirstFrames(dataDir: string, n: number): Promise<number[]> {
  const server = await startKbs({ dataDir, withNext: false, env: { KBS_UPSTREAMS: "0", KBS_BUILTINS: "0", KBS_BUILD_WORKERS: "0", KBS_POOL_SIZE: "1", KBS_LOG_LEVEL: "warn", KBS_SESSIONS_PER_CLIENT: "1000", KBS_SESSIONS_MAX: "1000" } });
  try {
    const samples: number[] = [];
    for (let i = 0; i < n; i++) {
      // Let the pool refill, as between two people opening sessions; after the first, the next
      // session on the tree is handed the mconf kbs primed for it (its Kconfig already parsed).
      await new Promise((r) => setTimeout(r, 3000));
      if (i > 0) await primedReady(server.url, "linux", 600_000);
      const t0 = performance.now();
      const s = await api<{ wsPath: string }>(`${server.url}/api/sessions`, { method: "POST", body: { project: "linux", rev: "v6.1", arch: "x86_64" } });
      const term = await LoadTerminal.open(server.url, s.wsPath, 120, 40);
      try {
        await term.until("Linux menuconfig title", () => term.screen().includes("Linux/x86"), 600_000);
        samples.push(msSince(t0));
      } finally {
        term.close();
      }
    }
    return samples;
  } finally {
    await server.stop();
  }
}

/**
 * The default VM image on kernel build `kernelBuild`, through the builder like any VM build:
 * the config names the build (CONFIG_VM_KERNEL_BUILD_ID), the builder hands its bzImage in,
 * the boot test runs in the build; the assets are then verified into `dir`.
 */
async function vmImageOnKernel(ctx: BenchContext, kbs: Kbs, kernelBuild: string, dir: string): Promise<VmManifest> {
  const rev = kbs.revdb.list("vm", { limit: 1 })[0]!.sha;
  const b = await build(kbs, "vm", rev, `CONFIG_VM_KERNEL_BUILD=y\nCONFIG_VM_KERNEL_BUILD_ID="${kernelBuild}"\n`, ctx.signal);
  return verifiedImage(kbs, b.id, dir);
}

export async function suite(ctx: BenchContext): Promise<BenchFigure[]> {
  return [...(await defaultImage(ctx)), ...(await linuxFigures(ctx))];
}
