import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { startServer, type RunningServer } from "../main";
import { run } from "../core/proc";
import { loadSettings, procEnv } from "../core/settings";
import { tmpDir } from "../../test/helpers/tmp";
import { TerminalClient } from "../../test/helpers/terminal";
import { addProject, api, buildTestEnv, noProcessesLeft, saveConfig, startWorker, testRedis, waitBuild, type WorkerProcess } from "../../test/helpers/builds";
import { createBuildFixtureRepo, type BuildFixture } from "../../test/fixtures/builds";
import type { BuildView, Manifest } from "./types";

/**
 * The build backend end to end, through the real server, real bwrap sandboxes and, for
 * the Redis engine, real Redis and a separate `kbs worker` process. Every test runs
 * against both engines.
 */
const engines = [
  { name: "embedded", redisDb: undefined },
  { name: "redis", redisDb: 11 },
] as const;

describe.each(engines)("builds ($name engine)", ({ name, redisDb }) => {
  let server: RunningServer;
  let worker: WorkerProcess | undefined;
  let fx: BuildFixture;
  let base: string;
  const configs: Record<string, string> = {};

  beforeAll(async () => {
    const dir = tmpDir();
    const dataDir = path.join(dir, "data");
    fx = createBuildFixtureRepo(path.join(dir, "repo"));
    await addProject(dataDir, "fx", fx.dir);
    const redisUrl = redisDb === undefined ? undefined : await testRedis(redisDb);
    const env = { ...buildTestEnv, KBS_DATA_DIR: dataDir, KBS_BUILD_QUEUE_MAX: "2", PORT: "0" };
    // Redis: the server only queues; a separate `kbs worker` process builds.
    server = await startServer(loadSettings(redisUrl ? { ...env, KBS_REDIS_URL: redisUrl, KBS_BUILD_WORKERS: "0" } : env), { withNext: false });
    base = server.url;
    if (redisUrl) worker = await startWorker(dataDir, { redisUrl });
    configs.host = await saveConfig(base, "fx", "v0.3.0", "CONFIG_ARCH_HOST=y\n");
    configs.arm = await saveConfig(base, "fx", "v0.3.0", "CONFIG_ARCH_ARM=y\n");
  }, 180_000);

  afterAll(async () => {
    await worker?.stop();
    await server?.close();
  });

  const request = (rev: string, configId: string) => api<BuildView>(base, "POST", "/api/builds", { project: "fx", rev, configId });

  it("the sync made the ready work tree of the newest named commit, so its first build unpacks it", async () => {
    const trees = path.join(server.kbs.settings.dataDir, "trees");
    const made = fs.readdirSync(trees).filter((n) => /^[0-9a-f]{40}$/.test(n));
    expect(made).toHaveLength(1);
    const named = (await run("git", ["-C", fx.dir, "for-each-ref", "--format=%(objectname) %(*objectname)"])).stdout.toString().split(/\s+/);
    expect(named).toContain(made[0]);
    expect(fs.statSync(path.join(trees, made[0]!, "tree.tar")).size).toBeGreaterThan(0);
    expect(fs.existsSync(path.join(trees, made[0]!, "index"))).toBe(true);
  });

  it("builds a host firmware, serves artifacts that match the manifest, and answers the same request from the cache", async () => {
    const first = await request("v0.3.0", configs.host!);
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ state: "queued", cached: false });

    // The live log over the WebSocket, from the start to the close that names the final state.
    const ws = new WebSocket(`${base.replace("http", "ws")}/ws/builds/${first.body.id}/log`);
    let wsText = "";
    ws.on("message", (d) => (wsText += d.toString()));
    const closed = new Promise<string>((resolve) => ws.on("close", (_code, reason) => resolve(reason.toString())));
    // The chunked log follows the build until it ends.
    const streamed = fetch(`${base}/api/builds/${first.body.id}/log`).then((r) => r.text());

    const done = await waitBuild(base, first.body.id);
    expect(done.errorSummary).toBeNull();
    expect(done.state).toBe("succeeded");
    expect(await closed).toBe("succeeded");
    expect(wsText).toContain("==> [kbs] build:");
    expect(await streamed).toMatch(/kbs: succeeded in/);

    const manifest = done.manifest as Manifest;
    expect(manifest).toMatchObject({ project: "fx", rev: "v0.3.0", describe: "v0.3.0", configId: configs.host, recipe: { id: "kconfiglib", version: 1 } });
    expect(manifest.toolchain.gcc).toMatch(/gcc/);
    const bin = manifest.artifacts.find((a) => a.name === "demo.bin")!;
    const res = await fetch(`${base}/api/builds/${done.id}/artifacts/demo.bin`);
    const data = Buffer.from(await res.arrayBuffer());
    expect(crypto.createHash("sha256").update(data).digest("hex")).toBe(bin.sha256);
    expect(data.length).toBe(bin.size);
    expect(res.headers.get("content-disposition")).toBe(`attachment; filename="fx-v0.3.0-${configs.host!.slice(0, 8)}-demo.bin"`);
    const repro = await (await fetch(`${base}/api/builds/${done.id}/artifacts/reproduce.sh`)).text();
    expect(repro).toContain(`git checkout -q --detach ${done.commit}`);
    expect(repro).toContain(`${bin.sha256}  out/demo.bin`);
    if (name === "embedded") {
      // The reproducer rebuilds the same bytes from the fixture's own repo (our tree, so outside a sandbox is fine).
      const file = path.join(tmpDir(), "reproduce.sh");
      fs.writeFileSync(file, repro);
      const r = await run("sh", [file, fx.dir, path.join(path.dirname(file), "work")], { env: procEnv({ PATH: process.env.PATH }) });
      expect(r.stdout.toString()).toContain("out/demo.bin: OK");
      expect(r.code).toBe(0);
    }

    const again = await request("v0.3.0", configs.host!);
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ id: done.id, state: "succeeded", cached: true });
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/kbs_build_cache_hits_total [1-9]/);
    expect(metrics).toMatch(/kbs_build_queue_depth 0/);
    // The process that ran the build counts it: this server (embedded) or the `kbs worker` (Redis).
    if (name === "embedded") expect(metrics).toMatch(/kbs_builds_total\{state="succeeded"\} 1/);
  });

  it("keys on the config after olddefconfig: spelling out a default shares the build", async () => {
    const first = await request("v0.3.0", configs.host!);
    const withDefault = await saveConfig(base, "fx", "v0.3.0", "CONFIG_ARCH_HOST=y\nCONFIG_BLINK_PERIOD_MS=500\n");
    expect(withDefault).not.toBe(configs.host);
    const again = await request("v0.3.0", withDefault);
    expect(again.body).toMatchObject({ id: first.body.id, cached: true });
  });

  it("builds what a menuconfig session saved", async () => {
    // v0.2.0: nothing was built there yet (at v0.3.0 the saved defaults would be a cache hit of the first test's build).
    const s = await api<{ wsPath: string }>(base, "POST", "/api/sessions", { project: "fx", rev: "v0.2.0" });
    expect(s.status, JSON.stringify(s.body)).toBe(201);
    const term = await TerminalClient.connect(base, s.body.wsPath, { cols: 120, rows: 40 });
    try {
      await term.untilText("kbs demo firmware configuration", 60_000);
      await term.untilText(/\[ \] Debug messages/);
      term.control({ type: "save" });
      const saved = await term.untilMessage("saved");
      const { body } = await request("v0.2.0", String(saved.configId));
      expect(body.cached).toBe(false);
      const done = await waitBuild(base, body.id);
      expect(done.state).toBe("succeeded");
      expect(done.manifest!.configId).toBe(saved.configId);
    } finally {
      term.close();
    }
  });

  it("builds for ARM with arm-none-eabi-gcc", async () => {
    const { body } = await request("v0.3.0", configs.arm!);
    const done = await waitBuild(base, body.id);
    expect(done.state).toBe("succeeded");
    expect(done.manifest!.toolchain["arm-none-eabi-gcc"]).toMatch(/arm-none-eabi-gcc/);
    expect(done.artifacts.map((a) => a.name)).toEqual(["demo.bin", "demo.elf", "manifest.json", "reproduce.sh"]);
  });

  it("reports a compile error with the failing step and the compiler's message", async () => {
    const { body } = await request("broken", configs.host!);
    const done = await waitBuild(base, body.id);
    expect(done.state).toBe("failed");
    expect(done.failedStep).toBe("build");
    expect(done.errorSummary).toMatch(/Step 'build' failed/);
    expect(done.errorSummary).toMatch(/main\.c.*error/);
  });

  it("fails early, before compiling, for an architecture whose compiler Debian does not package", async () => {
    const { body } = await request("pru", configs.host!);
    const done = await waitBuild(base, body.id);
    expect(done.state).toBe("failed");
    expect(done.failedStep).toBe("toolchain");
    expect(done.errorSummary).toMatch(/Beaglebone PRU, which needs pru-gcc; Debian does not package pru-gcc/);
  });

  it("fails a config that fails olddefconfig at that step", async () => {
    const bad = await saveConfig(base, "fx", "strict", "CONFIG_ARCH_HOST=y\nCONFIG_BLINK_PERIOD_MS=5\n");
    const { body } = await request("strict", bad);
    const done = await waitBuild(base, body.id);
    expect(done.state).toBe("failed");
    expect(done.failedStep).toBe("olddefconfig");
    expect(done.errorSummary).toMatch(/warning/i);
  });

  it("stops a build past its time limit with its whole process tree", async () => {
    const { body } = await request("slow", configs.host!);
    const done = await waitBuild(base, body.id);
    expect(done.state).toBe("timed_out");
    expect(done.failedStep).toBe("build");
    expect(done.errorSummary).toMatch(/time limit of 25 s/);
    expect(await noProcessesLeft(`sleep ${fx.slowMarker}`)).toEqual([]);
  });

  it("says plainly when the work dir is full", async () => {
    const { body } = await request("diskfull", configs.host!);
    const done = await waitBuild(base, body.id);
    expect(done.state).toBe("failed");
    expect(done.errorSummary).toMatch(/ran out of disk space in its work dir \(limit 64 MB\)/);
  });

  it("cancels a running build from the API, shows queue positions, and bounds the queue", async () => {
    const slowCfg = await saveConfig(base, "fx", "slow", "CONFIG_ARCH_HOST=y\nCONFIG_BLINK_PERIOD_MS=100\n");
    const running = await request("slow", slowCfg);
    await waitBuild(base, running.body.id, (b) => b.state === "running");
    // Revisions nothing was built at yet (a finished identical build would be a cache hit, not queued).
    const q1 = await request("v0.1.0", configs.host!);
    const q2 = await request("v0.3.0-rc1", configs.host!);
    expect(q1.body).toMatchObject({ state: "queued", queuePosition: 1 });
    expect(q1.body.eta).toBeGreaterThan(0); // past builds of the recipe give an estimate
    expect(q2.body.queuePosition).toBe(2);
    const full = await request("multi", configs.host!);
    expect(full.status).toBe(429);
    expect(Number(full.headers.get("retry-after"))).toBeGreaterThan(0);

    for (const id of [q2.body.id, q1.body.id]) expect((await api<BuildView>(base, "POST", `/api/builds/${id}/cancel`)).body.state).toBe("cancelled");
    const cancelled = await api<BuildView>(base, "DELETE", `/api/builds/${running.body.id}`);
    expect(cancelled.body.state).toBe("cancelled");
    expect(await noProcessesLeft(`sleep ${fx.slowMarker}`)).toEqual([]);
    const after = await waitBuild(base, running.body.id, (b) => b.state === "cancelled");
    expect(after.artifacts).toEqual([]);
  });

  it("turns 50 identical requests at once into one build", async () => {
    const cfg = await saveConfig(base, "fx", "v0.2.0", "CONFIG_ARCH_HOST=y\nCONFIG_BLINK_PERIOD_MS=250\n");
    const all = await Promise.all(Array.from({ length: 50 }, () => request("v0.2.0", cfg)));
    expect(new Set(all.map((r) => r.body.id)).size).toBe(1);
    expect(all.filter((r) => r.status === 201)).toHaveLength(1);
    expect(all.filter((r) => r.status === 200)).toHaveLength(49);
    const done = await waitBuild(base, all[0]!.body.id);
    expect(done.state).toBe("succeeded");
    expect(done.attempt).toBe(1);
  });

  it("answers bad requests with errors a person can act on", async () => {
    expect((await api(base, "GET", "/api/builds/0123456789abcdef")).status).toBe(404);
    const wrong = await api<{ error: { code: string } }>(base, "POST", "/api/builds", { project: "fx", rev: "v0.3.0", configId: "nothex" });
    expect(wrong.status).toBe(400);
    const unknownRev = await api<{ error: { code: string } }>(base, "POST", "/api/builds", { project: "fx", rev: "v9.9.9", configId: configs.host });
    expect(unknownRev.body.error.code).toBe("unknown_revision");
    if (name === "embedded") expect((await api(base, "GET", "/api/builds/0123456789abcdef/log")).status).toBe(404);
  });
});
