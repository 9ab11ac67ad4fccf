import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { demoTitle } from "../bench/suites/baseline";
import { loadTable, runLoad, type LoadResult } from "../bench/load";
import { startKbs, type KbsProcess } from "./helpers/server";
import { tmpDir } from "./helpers/tmp";

/**
 * The load test: N concurrent menuconfig sessions on the built-in demo project
 * through a real `kbs serve` (HTTP + WebSocket), each typing and saving, while two
 * builds run. N is 10 here; KBS_LOAD_SESSIONS=50 (or `kbs bench --full`) for more.
 * Asserts no errors and that every save reached the config store; latency and
 * memory are reported, not asserted.
 */
const sessions = Number(process.env.KBS_LOAD_SESSIONS ?? 10);

describe(`load: ${sessions} sessions typing and saving while 2 builds run`, () => {
  let kbs: KbsProcess;
  let result: LoadResult;

  beforeAll(async () => {
    kbs = await startKbs({ dataDir: tmpDir(), withNext: false, env: { KBS_POOL_SIZE: "2", KBS_BUILD_WORKERS: "1", KBS_SESSIONS_PER_CLIENT: "1000", KBS_SESSIONS_MAX: "1000", KBS_MAX_CONNECTIONS_PER_CLIENT: "4000" } });
  });
  afterAll(async () => {
    await kbs?.stop();
  });

  it("serves every session and build without an error, and stores every save", { timeout: 30_000 + sessions * 6_000 }, async () => {
    result = await runLoad({
      url: kbs.url,
      project: "demo",
      sessions,
      keystrokes: 12,
      builds: 2,
      title: demoTitle,
      serverPid: kbs.child.pid,
      timeoutMs: 20_000 + sessions * 5_000,
    });
    const table = loadTable(result);
    process.stdout.write(`\n${table}\n`);
    fs.mkdirSync("test-results", { recursive: true });
    fs.writeFileSync(path.join("test-results", "load.md"), "```\n" + table + "\n```\n");
    expect(result.errors).toEqual([]);
    expect(result.saves).toHaveLength(sessions);
    expect(result.saves.every((s) => s.stored)).toBe(true);
    expect(result.builds.map((b) => b.state)).toEqual(["succeeded", "succeeded"]);
    // Each save is in the store under its id, read back once more after the run.
    for (const s of result.saves) expect((await fetch(`${kbs.url}/api/configs/${s.configId}`)).status).toBe(200);
  });
});
