import fs from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { startServer, type RunningServer } from "../main";
import { loadSettings } from "../core/settings";
import { tmpDir } from "../../test/helpers/tmp";
import { freePort } from "../../test/global-setup";
import { startKbs, type KbsProcess } from "../../test/helpers/server";
import { addProject, api, buildTestEnv, noProcessesLeft, saveConfig, startWorker, testRedis, waitBuild, type WorkerProcess } from "../../test/helpers/builds";
import { createBuildFixtureRepo } from "../../test/fixtures/builds";
import type { BuildView } from "./types";

/**
 * Processes dying under the build backend: real `kbs serve` and `kbs worker` processes
 * SIGKILLed mid-build, real Redis, real sandboxes. The `medium` fixture branch sleeps
 * MEDIUM seconds inside the build, long enough to kill its worker there.
 */
const MEDIUM = 14;

async function fixture() {
  const dir = tmpDir();
  const dataDir = path.join(dir, "data");
  const fx = createBuildFixtureRepo(path.join(dir, "repo"), { mediumSec: MEDIUM });
  await addProject(dataDir, "fx", fx.dir);
  return { dataDir, fx };
}

const inBuildStep = (b: BuildView, dataDir: string) =>
  b.state === "running" && fs.existsSync(path.join(dataDir, "logs", `${b.id}.log`)) && fs.readFileSync(path.join(dataDir, "logs", `${b.id}.log`), "utf8").includes("==> [kbs] build:");

describe("a worker killed or stopped mid-build (Redis engine)", () => {
  let server: RunningServer | undefined;
  const workers: WorkerProcess[] = [];
  afterAll(async () => {
    for (const w of workers) await w.kill();
    await server?.close();
  });

  it("is retried by another worker and the build finishes once; a stopped one hands its build back", async () => {
    const { dataDir } = await fixture();
    const redisUrl = await testRedis(12);
    server = await startServer(loadSettings({ ...buildTestEnv, KBS_DATA_DIR: dataDir, PORT: "0", KBS_REDIS_URL: redisUrl, KBS_BUILD_WORKERS: "0" }), { withNext: false });
    const base = server.url;
    const a = await startWorker(dataDir, { redisUrl });
    workers.push(a);
    const cfg = await saveConfig(base, "fx", "medium", "CONFIG_ARCH_HOST=y\n");
    const { body } = await api<BuildView>(base, "POST", "/api/builds", { project: "fx", rev: "medium", configId: cfg });
    await waitBuild(base, body.id, (b) => inBuildStep(b, dataDir));

    await a.kill();
    expect(await noProcessesLeft(`sleep ${MEDIUM}`)).toEqual([]); // the dead worker's sandbox went with it
    workers.push(await startWorker(dataDir, { redisUrl }));

    const done = await waitBuild(base, body.id, undefined, 180_000);
    expect(done.state).toBe("succeeded");
    expect(done.attempt).toBe(2);
    const log = await (await fetch(`${base}/api/builds/${body.id}/log`)).text();
    expect(log).toContain("--- attempt 2");
    expect(log.match(/kbs: succeeded in/g)).toHaveLength(1);
    const again = await api<BuildView>(base, "POST", "/api/builds", { project: "fx", rev: "medium", configId: cfg });
    expect(again.body).toMatchObject({ id: body.id, cached: true });

    // A worker stopped politely (SIGTERM) hands its build back at once instead of waiting for the lock to lapse.
    const b = workers[1]!;
    const cfg2 = await saveConfig(base, "fx", "medium", "CONFIG_ARCH_HOST=y\nCONFIG_BLINK_PERIOD_MS=200\n");
    const second = await api<BuildView>(base, "POST", "/api/builds", { project: "fx", rev: "medium", configId: cfg2 });
    await waitBuild(base, second.body.id, (x) => inBuildStep(x, dataDir));
    await b.stop();
    expect((await api<BuildView>(base, "GET", `/api/builds/${second.body.id}`)).body.state).toBe("queued");
    workers.push(await startWorker(dataDir, { redisUrl }));
    const done2 = await waitBuild(base, second.body.id, undefined, 180_000);
    expect(done2).toMatchObject({ state: "succeeded", attempt: 2 });
  }, 300_000);
});

describe.each([
  { engine: "embedded", redisDb: undefined },
  { engine: "redis", redisDb: 13 },
])("a server killed with builds running and queued ($engine engine)", ({ redisDb }) => {
  let kbs: KbsProcess | undefined;
  afterAll(async () => {
    await kbs?.kill();
  });

  it("runs them all after a restart", async () => {
    const { dataDir } = await fixture();
    const env: Record<string, string> = { ...buildTestEnv, ...(redisDb === undefined ? {} : { KBS_REDIS_URL: await testRedis(redisDb) }) };
    kbs = await startKbs({ dataDir, env, withNext: false });
    const cfg = await saveConfig(kbs.url, "fx", "medium", "CONFIG_ARCH_HOST=y\n");
    const ids: string[] = [];
    for (const rev of ["medium", "v0.2.0", "v0.1.0"]) {
      const r = await api<BuildView>(kbs.url, "POST", "/api/builds", { project: "fx", rev, configId: cfg });
      expect(r.status).toBe(201);
      ids.push(r.body.id);
    }
    await waitBuild(kbs.url, ids[0]!, (b) => inBuildStep(b, dataDir));
    expect((await api<BuildView>(kbs.url, "GET", `/api/builds/${ids[1]}`)).body.state).toBe("queued");

    await kbs.kill();
    expect(await noProcessesLeft(`sleep ${MEDIUM}`)).toEqual([]);
    kbs = await startKbs({ dataDir, env, withNext: false });

    const done = await Promise.all(ids.map((id) => waitBuild(kbs!.url, id, undefined, 180_000)));
    expect(done.map((b) => b.state)).toEqual(["succeeded", "succeeded", "succeeded"]);
    expect(done[0]!.attempt).toBe(2);
    expect(done[1]!.attempt).toBe(1);
  }, 300_000);
});

describe("Redis unreachable", () => {
  it("starts and stops without it, and refuses new builds with 503 and Retry-After instead of hanging", async () => {
    const { dataDir } = await fixture();
    const port = await freePort(); // nothing listens there
    const server = await startServer(loadSettings({ ...buildTestEnv, KBS_DATA_DIR: dataDir, PORT: "0", KBS_REDIS_URL: `redis://127.0.0.1:${port}`, KBS_BUILD_WORKERS: "1" }), { withNext: false });
    try {
      const cfg = await saveConfig(server.url, "fx", "v0.3.0", "CONFIG_ARCH_HOST=y\n");
      const r = await api<{ error: { code: string } }>(server.url, "POST", "/api/builds", { project: "fx", rev: "v0.3.0", configId: cfg });
      expect(r.status).toBe(503);
      expect(r.body.error.code).toBe("queue_unavailable");
      expect(r.headers.get("retry-after")).toBe("60");
      expect(server.kbs.builds.store.queuedCount()).toBe(0);
    } finally {
      await server.close();
    }
  }, 60_000);
});
