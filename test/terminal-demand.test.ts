import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startKbs, type KbsProcess } from "./helpers/server";
import path from "node:path";
import { createFakeFirmwareRepo } from "./fixtures/fake-firmware";
import { kbsCli, kbsCliAsync, metric, newSession } from "./helpers/sessions";
import { tmpDir } from "./helpers/tmp";

/**
 * Priming that follows demand, through a real `kbs serve`: a tree whose sessions come
 * several at once gets as many primed sessions and a spare (within KBS_PRIMED_MEMORY_MB),
 * the next burst is handed them, and /metrics counts hits and misses per project.
 */

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const burst = (url: string, n: number) => Promise.all(Array.from({ length: n }, () => newSession(url, { project: "fw", rev: "v0.2.0" })));
const primed = async (url: string, id: string) => ((await (await fetch(`${url}/api/sessions/${id}`)).json()) as { primed: boolean }).primed;
const end = (url: string, id: string) => fetch(`${url}/api/sessions/${id}`, { method: "DELETE", headers: { "Content-Type": "application/json" }, body: "{}" });

async function server(env: Record<string, string>): Promise<KbsProcess> {
  const dataDir = tmpDir();
  const repo = createFakeFirmwareRepo(path.join(tmpDir(), "fw"), { ownKconfiglib: true });
  kbsCli(dataDir, ["project", "add", "fw", "--recipe", "klipper", "--url", repo.dir]);
  await kbsCliAsync(dataDir, ["sync", "fw"]);
  return startKbs({ dataDir, withNext: false, env: { KBS_POOL_SIZE: "2", KBS_BUILTINS: "0", KBS_BUILD_WORKERS: "0", KBS_SESSIONS_PER_CLIENT: "20", ...env } });
}

describe("priming follows demand", () => {
  let kbs: KbsProcess;
  beforeAll(async () => {
    kbs = await server({});
  });
  afterAll(async () => {
    await kbs?.stop();
  });

  it("three sessions at once on a cold tree are misses; it is primed three deep and a spare, and the next three at once are all hits", { timeout: 180_000 }, async () => {
    const url = kbs.url;
    const first = await burst(url, 3);
    for (const s of first) expect(await primed(url, s.id)).toBe(false);
    expect(await metric(url, 'kbs_sessions_primed_misses_total{project="fw"}')).toBe(3);
    for (const s of first) await end(url, s.id);
    await until("four primed sessions", async () => (await metric(url, 'kbs_sessions_primed{project="fw"}')) >= 4);
    expect(await metric(url, 'kbs_sessions_primed_wanted{project="fw"}')).toBe(4);

    const second = await burst(url, 3);
    for (const s of second) expect(await primed(url, s.id)).toBe(true);
    expect(await metric(url, 'kbs_sessions_primed_hits_total{project="fw"}')).toBe(3);
    expect(await metric(url, 'kbs_sessions_primed_misses_total{project="fw"}')).toBe(3);
    for (const s of second) await end(url, s.id);
  });
});

describe("priming within the memory budget", () => {
  let kbs: KbsProcess;
  beforeAll(async () => {
    kbs = await server({ KBS_PRIMED_MEMORY_MB: "1" });
  });
  afterAll(async () => {
    await kbs?.stop();
  });

  it("a budget too small for more keeps one primed session per hot tree, whatever the demand", { timeout: 180_000 }, async () => {
    const url = kbs.url;
    for (const s of await burst(url, 3)) await end(url, s.id);
    await until("a primed session", async () => (await metric(url, 'kbs_sessions_primed{project="fw"}')) >= 1);
    // Once it drew, its memory is measured: the budget holds one.
    for (const s of await burst(url, 1)) await end(url, s.id);
    await until("the tree primed again", async () => (await metric(url, 'kbs_sessions_primed{project="fw"}')) >= 1);
    expect(await metric(url, 'kbs_sessions_primed_wanted{project="fw"}')).toBe(1);
    expect(await metric(url, 'kbs_sessions_primed{project="fw"}')).toBe(1);
  });
});
