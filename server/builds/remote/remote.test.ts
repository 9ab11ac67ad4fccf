import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fixtureGit } from "../../../test/fixtures/fake-firmware";
import { freePort } from "../../../test/global-setup";
import { addProject, api, buildTestEnv, saveConfig, startWorker, testRedis, waitBuild, type WorkerProcess } from "../../../test/helpers/builds";
import { kbsBin, startKbs, type KbsProcess } from "../../../test/helpers/server";
import { tmpDir } from "../../../test/helpers/tmp";
import { createFakeLinuxRepo } from "../../../test/fixtures/fake-linux";
import { addFixtureProject, createBuildFixtureRepo } from "../../../test/fixtures/builds";
import type { BuildView, Manifest } from "../types";

/**
 * Remote build workers for real: a `kbs serve` process with Redis (started by the test
 * setup) and `kbs worker --server URL --token T` processes, each with its own empty data
 * dir on 127.0.0.1, the sources over git's smart HTTP, results uploaded and checked. The
 * failure cases kill real processes at the moment named (mid-build, mid-upload) and
 * wait for the state that follows.
 */
const MEDIUM = 14;
/** The `big` branch's extra artifact: large enough that killing a process during its upload is easy to time. */
const BIG_MB = 160;

const kbs = (dataDir: string, args: string[]) => {
  const r = spawnSync(process.execPath, [kbsBin, ...args], { env: { ...process.env, ...buildTestEnv, KBS_DATA_DIR: dataDir }, encoding: "utf8" });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
};

const logOf = async (base: string, id: string) => (await fetch(`${base}/api/builds/${id}/log?follow=0`)).text();
const partsIn = (dir: string) => (fs.existsSync(dir) ? fs.readdirSync(dir, { recursive: true }).map(String).filter((f) => f.endsWith(".part")) : []);

async function until<T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 120_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

describe("remote build workers (own data dirs, git over HTTP, verified uploads)", () => {
  let root: string;
  let serverData: string;
  let repo: string;
  let redisUrl: string;
  let port: number;
  let server: KbsProcess;
  let base: string;
  let token: string;
  const workers: WorkerProcess[] = [];
  const serverEnv = () => ({ ...buildTestEnv, KBS_BUILTINS: "1", KBS_REDIS_URL: redisUrl, KBS_BUILD_WORKERS: "0", KBS_BUILD_TIMEOUT_SEC: "300", KBS_BUILD_DISK_MB: "700" });
  const worker = async (name: string, env: Record<string, string> = {}) => {
    const dir = path.join(root, `worker-${name}`);
    const w = await startWorker(dir, { args: ["--server", base, "--token", token], env: { KBS_BUILD_DISK_MB: "700", KBS_BUILD_TIMEOUT_SEC: "300", ...env } });
    workers.push(w);
    return Object.assign(w, { dir });
  };
  const request = async (project: string, rev: string, text: string) => {
    const configId = await saveConfig(base, project, rev, text);
    const r = await api<BuildView>(base, "POST", "/api/builds", { project, rev, configId });
    if (r.status !== 201 && r.status !== 200) throw new Error(`POST /api/builds: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  };
  const succeeded = async (id: string) => {
    const done = await waitBuild(base, id, undefined, 300_000);
    if (done.state !== "succeeded") throw new Error(`build ${id} ${done.state}: ${done.errorSummary}\n${(await logOf(base, id)).slice(-3000)}`);
    return done;
  };
  const stopWorkers = async () => {
    for (const w of workers.splice(0)) await w.stop();
  };

  beforeAll(async () => {
    root = tmpDir();
    serverData = path.join(root, "server");
    const fx = createBuildFixtureRepo(path.join(root, "repo"), { mediumSec: MEDIUM });
    repo = fx.dir;
    fixtureGit(repo, ["checkout", "-q", "-b", "big", "master"]);
    fs.appendFileSync(path.join(repo, "Makefile"), `\nall: kbs-big\nkbs-big:\n\tmkdir -p out && head -c ${BIG_MB * 1024 * 1024} /dev/zero > out/big.bin\n.PHONY: kbs-big\n`);
    fixtureGit(repo, ["commit", "-q", "-am", "fixture: big"]);
    fixtureGit(repo, ["checkout", "-q", "master"]);
    await addProject(serverData, "fx", repo);
    await addFixtureProject({ ...buildTestEnv, KBS_BUILTINS: "1", KBS_DATA_DIR: serverData }, "linux", createFakeLinuxRepo(path.join(root, "linux")).dir, "linux");
    redisUrl = await testRedis(14);
    port = await freePort();
    server = await startKbs({ dataDir: serverData, env: serverEnv(), withNext: false, port });
    base = server.url;
    const made = kbs(serverData, ["worker-token", "create", "ci-workers"]);
    expect(made.code, made.stderr).toBe(0);
    token = made.stdout.trim();
    expect(token).toMatch(/^kbsw_/);
  }, 300_000);

  afterAll(async () => {
    for (const w of workers) await w.kill();
    await server?.kill();
  });

  it("builds the demo tree on a worker with an empty data dir, byte-identical to an embedded-queue build; the next commit fetches only its new objects", async () => {
    const a = await worker("a");
    const config = "CONFIG_ARCH_HOST=y\n";
    const first = await succeeded((await request("fx", "master", config)).id);
    const log1 = await logOf(base, first.id);
    expect(log1).toMatch(/sources on worker \S+: fetched \d+ new objects/);
    expect(log1).toContain("==> [kbs] build:"); // the sandbox's output reached the server's log

    // The same build on an embedded queue (a server of its own with a local worker).
    const localData = path.join(root, "local");
    await addProject(localData, "fx", repo);
    const local = await startKbs({ dataDir: localData, env: { ...buildTestEnv, KBS_BUILD_WORKERS: "1" }, withNext: false });
    try {
      const cfg = await saveConfig(local.url, "fx", "master", config);
      const l = await waitBuild(local.url, (await api<BuildView>(local.url, "POST", "/api/builds", { project: "fx", rev: "master", configId: cfg })).body.id);
      expect(l.state).toBe("succeeded");
      const own = (b: BuildView) => b.artifacts.filter((x) => !["manifest.json", "reproduce.sh"].includes(x.name)).map(({ name, size, sha256 }) => ({ name, size, sha256 }));
      expect(own(first).length).toBeGreaterThan(0);
      expect(own(first)).toEqual(own(l));
      for (const x of own(first)) {
        const remote = Buffer.from(await (await fetch(`${base}/api/builds/${first.id}/artifacts/${x.name}`)).arrayBuffer());
        const embedded = Buffer.from(await (await fetch(`${local.url}/api/builds/${l.id}/artifacts/${x.name}`)).arrayBuffer());
        expect(remote.equals(embedded)).toBe(true);
      }
      expect(first.manifest).toMatchObject({ commit: l.manifest!.commit, configId: l.manifest!.configId, recipe: l.manifest!.recipe, image: l.manifest!.image, toolchain: l.manifest!.toolchain });
    } finally {
      await local.stop();
    }

    // A new commit upstream: the worker's mirror gains exactly the objects it adds.
    const old = fixtureGit(repo, ["rev-parse", "HEAD"]).trim();
    fs.appendFileSync(path.join(repo, "src/main.c"), "\n/* a second commit */\n");
    fixtureGit(repo, ["commit", "-q", "-am", "second commit"]);
    const added = fixtureGit(repo, ["rev-list", "--objects", `${old}..HEAD`]).trim().split("\n").length;
    expect((await api(base, "POST", "/api/projects/fx/sync")).status).toBeLessThan(300);
    const second = await until("the new commit indexed", async () => {
      const b = await request("fx", "master", config);
      return b.commit !== first.commit && b;
    });
    await succeeded(second.id);
    const log2 = await logOf(base, second.id);
    expect(log2).toContain(`fetched ${added} new objects`);
    expect(await logOf(base, first.id)).not.toContain(second.id);

    // The worker's data dir has its mirror, its refs under the project's prefix as in the server's gitref (the build's
    // work tree gets them under their upstream names from there); the server's was never written by it.
    const heads = spawnSync("git", ["--git-dir", path.join(a.dir, "git", "fx.git"), "for-each-ref", "--format=%(refname)", "refs/heads/"], { encoding: "utf8" }).stdout;
    expect(heads).toContain("refs/heads/fx/master\n");
    expect(heads).not.toMatch(/^refs\/heads\/master$/m);
  }, 600_000);

  it("two workers share the queue, /api/workers and /metrics show them; a build with an input artifact verifies it", async () => {
    const b = await worker("b");
    // The medium build holds one worker, so the next build goes to the other.
    const medium = await request("fx", "medium", "CONFIG_ARCH_HOST=y\n");
    await waitBuild(base, medium.id, (x) => x.state === "running");
    const quick = await succeeded((await request("fx", "master", "CONFIG_ARCH_HOST=y\nCONFIG_FEATURE_LCD=y\n")).id);
    await succeeded(medium.id);
    const who = (log: string) => /sources on worker (\S+):/.exec(log)?.[1];
    expect(who(await logOf(base, medium.id))).not.toBe(who(await logOf(base, quick.id)));

    const seen = (await api<{ workers: Array<{ name: string; jobs: number; recipes: string[]; token: string; lastSeen: string }> }>(base, "GET", "/api/workers")).body.workers;
    expect(seen.length).toBe(2);
    for (const w of seen) expect(w).toMatchObject({ token: "ci-workers" });
    expect(seen.map((w) => w.name).sort()).toEqual([who(await logOf(base, medium.id)), who(await logOf(base, quick.id))].sort());
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/kbs_worker_jobs_total\{worker="[^"]+"\} \d/);
    expect(metrics).toMatch(/kbs_worker_busy\{worker="[^"]+"\} 0/);
    expect(metrics).toMatch(/kbs_worker_last_seen_seconds\{worker="[^"]+"\} \d/);

    // A kernel build, then a VM image whose config names it (recipe build.inputs): the input comes from the server, verified.
    const kernel = await succeeded((await request("linux", "v6.1.2", 'CONFIG_LOCALVERSION="-kbs-remote"\n')).id);
    const vmRev = (await api<Array<{ sha: string }>>(base, "GET", "/api/projects/vm/revisions")).body[0]!.sha;
    const vm = await succeeded((await request("vm", vmRev, `CONFIG_VM_KERNEL_BUILD=y\nCONFIG_VM_KERNEL_BUILD_ID="${kernel.id}"\n# CONFIG_VM_BOOT_TEST is not set\n`)).id);
    const bz = kernel.artifacts.find((x) => x.name === "bzImage")!;
    expect((vm.manifest as Manifest).inputs).toEqual([{ symbol: "VM_KERNEL_BUILD_ID", buildId: kernel.id, artifact: "bzImage", sha256: bz.sha256 }]);
    expect(await logOf(base, vm.id)).toContain("input VM_KERNEL_BUILD_ID: bzImage downloaded, sha256 verified");
    await b.stop();
    workers.splice(workers.indexOf(b), 1);
  }, 900_000);

  it("a wrong or revoked token gets 401 naming kbs worker-token, for the API and for git", async () => {
    const bad = await api<{ error: { code: string; message: string } }>(base, "POST", "/api/worker/hello", {});
    expect(bad.status).toBe(401);
    expect(bad.body.error.message).toContain("kbs worker-token");
    const made = kbs(serverData, ["worker-token", "create", "short-lived"]);
    const revoked = made.stdout.trim();
    expect(kbs(serverData, ["worker-token", "revoke", "short-lived"]).code).toBe(0);
    const res = await fetch(`${base}/api/worker/hello`, { method: "POST", headers: { Authorization: `Bearer ${revoked}`, "X-Kbs-Worker": "x", "Content-Type": "application/json" }, body: "{}" });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/'short-lived' was revoked.*kbs worker-token/);
    const clone = spawnSync("git", ["-c", `http.extraHeader=Authorization: Bearer ${revoked}`, "ls-remote", `${base}/git/fx`], { encoding: "utf8", env: { ...process.env, GIT_TERMINAL_PROMPT: "0" } });
    expect(clone.status).not.toBe(0); // git asks for credentials after the 401, and may not prompt
    expect(clone.stderr).toMatch(/401|Authentication failed|could not read Username/);
    const refsReq = await fetch(`${base}/git/fx/info/refs?service=git-upload-pack`, { headers: { Authorization: `Bearer ${revoked}` } });
    expect(refsReq.status).toBe(401);
    expect(await refsReq.text()).toContain("kbs worker-token");
    const list = kbs(serverData, ["worker-token", "list"]);
    expect(list.stdout).toMatch(/short-lived\s+revoked/);
    expect(list.stdout).not.toContain(revoked.split("_")[2]); // only hashes are stored
    const w = spawnSync(process.execPath, [kbsBin, "worker", "--server", base, "--token", revoked], { env: { ...process.env, ...buildTestEnv, KBS_DATA_DIR: path.join(root, "worker-revoked") }, encoding: "utf8", timeout: 60_000 });
    expect(w.status).toBe(2);
    expect(w.stderr).toContain("kbs worker-token");
    expect(w.stderr).not.toMatch(/\n\s+at /); // no stack trace

    // With a good token, git shows only that project's refs, under their upstream names, and refuses pushes.
    const refs = spawnSync("git", ["-c", `http.extraHeader=Authorization: Bearer ${token}`, "ls-remote", `${base}/git/fx`], { encoding: "utf8" });
    expect(refs.status, refs.stderr).toBe(0);
    expect(refs.stdout).toMatch(/\trefs\/heads\/master\n/);
    expect(refs.stdout).toMatch(/\trefs\/tags\/v0\.3\.0\n/);
    expect(refs.stdout).not.toMatch(/refs\/heads\/(fx|linux)\//);
  }, 120_000);

  it("an artifact whose sha256 does not match is refused and fails the attempt, saying so", async () => {
    await stopWorkers();
    const b = await request("fx", "master", "CONFIG_ARCH_HOST=y\n# CONFIG_HOST_USB is not set\n");
    const h = { Authorization: `Bearer ${token}`, "X-Kbs-Worker": "rogue:1" };
    const claim = await fetch(`${base}/api/worker/jobs/${b.id}/claim`, { method: "POST", headers: h });
    const job = (await claim.json()) as { attempt: number };
    expect(job.attempt).toBe(1);
    const body = Buffer.from("not what was declared");
    const res = await fetch(`${base}/api/worker/jobs/${b.id}/artifacts/${"0".repeat(64)}?attempt=1&size=${body.length}&name=demo.elf`, { method: "PUT", headers: h, body });
    expect(res.status).toBe(422);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("sha256_mismatch");
    const done = await waitBuild(base, b.id);
    expect(done.state).toBe("failed");
    expect(done.failedStep).toBe("upload");
    expect(done.errorSummary).toMatch(/demo\.elf was refused: it declared \d+ bytes with sha256 0{64}, the server received \d+ bytes with sha256 [0-9a-f]{64}/);
    expect(fs.readdirSync(path.join(serverData, "artifacts")).filter((f) => f.startsWith(".tmp"))).toEqual([]);
    // Another worker's attempt is not the rogue's to write: its results are refused.
    const other = await fetch(`${base}/api/worker/jobs/${b.id}/finish?attempt=1`, { method: "POST", headers: { ...h, "Content-Type": "application/json" }, body: JSON.stringify({ state: "succeeded" }) });
    expect(other.status).toBe(409);
  }, 120_000);

  it("a worker whose image is not usable refuses at once with kbs doctor's reason, and another worker builds it", async () => {
    const c = await worker("podman-only", { KBS_SANDBOX: "podman" });
    const b = await request("fx", "master", "CONFIG_ARCH_HOST=y\nCONFIG_FEATURE_LCD=y\n# CONFIG_HOST_USB is not set\n");
    await until("the refusal in the log", async () => (await logOf(base, b.id)).includes("cannot run this build: kbs doctor:"));
    expect((await api<BuildView>(base, "GET", `/api/builds/${b.id}`)).body.state).toBe("queued");
    const seen = (await api<{ workers: Array<{ refused: Record<string, string> }> }>(base, "GET", "/api/workers")).body.workers;
    expect(seen.some((w) => w.refused["build-firmware"]?.includes("podman"))).toBe(true);
    await worker("a2");
    const done = await succeeded(b.id);
    expect(done.attempt).toBeGreaterThanOrEqual(2);
    await c.stop();
    workers.splice(workers.indexOf(c), 1);
  }, 300_000);

  it("a worker SIGKILLed mid-build or mid-upload: another worker takes over, the partial upload is discarded, the build finishes once", async () => {
    await stopWorkers();
    for (const [rev, during] of [
      ["medium", "build"],
      ["big", "upload"],
    ] as const) {
      const a = await worker(`kill-${rev}`);
      const b = await request("fx", rev, "CONFIG_ARCH_HOST=y\nCONFIG_FEATURE_LCD=y\n");
      if (during === "build") await until("the build step", async () => (await logOf(base, b.id)).includes("==> [kbs] build:"));
      else await until("an upload in progress", () => partsIn(path.join(serverData, "uploads")).length > 0, 300_000, 20);
      await a.kill();
      workers.splice(workers.indexOf(a), 1);
      await worker(`takeover-${rev}`);
      const done = await succeeded(b.id);
      expect(done.attempt).toBe(2);
      const log = await logOf(base, b.id);
      expect(log).toContain("--- attempt 2");
      // Killed mid-upload, attempt 1 had built (and said so) but never completed its upload.
      expect(log.match(/kbs: succeeded in/g)).toHaveLength(during === "build" ? 1 : 2);
      expect(log.match(/kbs: uploaded \d+ artifacts/g)).toHaveLength(1);
      expect(partsIn(path.join(serverData, "uploads"))).toEqual([]);
      expect(fs.readdirSync(path.join(serverData, "uploads")).filter((d) => d.startsWith(b.id))).toEqual([]);
      if (rev === "big") expect(done.artifacts.find((x) => x.name === "big.bin")?.size).toBe(BIG_MB * 1024 * 1024);
      await stopWorkers();
    }
  }, 600_000);

  it("the server restarting while a worker uploads: the worker retries with backoff and the build succeeds", async () => {
    await worker("patient");
    const b = await request("fx", "big", "CONFIG_ARCH_HOST=y\n# CONFIG_HOST_USB is not set\n");
    await until("an upload in progress", () => partsIn(path.join(serverData, "uploads")).length > 0, 300_000, 20);
    await server.kill();
    server = await startKbs({ dataDir: serverData, env: serverEnv(), withNext: false, port });
    const done = await succeeded(b.id);
    expect(done.attempt).toBe(1);
    expect(done.artifacts.find((x) => x.name === "big.bin")?.size).toBe(BIG_MB * 1024 * 1024);
    expect(partsIn(path.join(serverData, "uploads"))).toEqual([]);
  }, 600_000);
});
