import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { run } from "../core/proc";
import { procEnv } from "../core/settings";
import { tmpDir } from "../../test/helpers/tmp";
import { kbsBin } from "../../test/helpers/server";
import { addProject, buildTestEnv } from "../../test/helpers/builds";
import { createBuildFixtureRepo } from "../../test/fixtures/builds";
import type { BuildView } from "./types";

describe("kbs build", () => {
  it("builds through the embedded queue, writes the artifacts, prints the record, and hits the cache the second time", async () => {
    const dir = tmpDir();
    const dataDir = path.join(dir, "data");
    const fx = createBuildFixtureRepo(path.join(dir, "repo"));
    await addProject(dataDir, "fx", fx.dir);
    const configFile = path.join(dir, "arm.config");
    fs.writeFileSync(configFile, "CONFIG_ARCH_ARM=y\n");
    const env = procEnv({ ...process.env, ...buildTestEnv, KBS_DATA_DIR: dataDir });
    const kbs = (args: string[]) => run(process.execPath, [kbsBin, "build", ...args], { env, timeoutMs: 240_000 });

    const out = path.join(dir, "out");
    const first = await kbs(["fx", "v0.3.0", "--config", configFile, "--json", "--out", out]);
    expect(first.stderr.toString()).toContain("==> [kbs] build:");
    expect(first.code).toBe(0);
    const record = JSON.parse(first.stdout.toString()) as BuildView;
    expect(record).toMatchObject({ state: "succeeded", project: "fx", describe: "v0.3.0", cached: false });
    for (const a of record.artifacts) {
      const data = fs.readFileSync(path.join(out, a.name));
      expect(crypto.createHash("sha256").update(data).digest("hex")).toBe(a.sha256);
    }

    const second = await kbs(["fx", "v0.3.0", "--config", configFile, "--json"]);
    expect(second.code).toBe(0);
    expect(second.stderr.toString()).toContain("cache hit");
    expect(JSON.parse(second.stdout.toString())).toMatchObject({ id: record.id, cached: true });

    // --verify rebuilds without ccache and compares: the cached build, then a build with randomness (exit 1, naming it).
    const verified = await kbs(["fx", "v0.3.0", "--config", configFile, "--json", "--verify"]);
    expect(verified.stderr.toString()).toContain("verify: reproducible");
    expect(verified.code).toBe(0);
    expect(JSON.parse(verified.stdout.toString())).toMatchObject({ id: record.id, reproducible: true });
    const noisy = await kbs(["fx", "random", "--config", configFile, "--verify", "--quiet"]);
    expect(noisy.stderr.toString()).toMatch(/verify: NOT reproducible: random\.bin differs from byte \d+/);
    expect(noisy.code).toBe(1);

    const missing = await kbs(["fx", "v0.3.0", "--config", path.join(dir, "nope.config")]);
    expect(missing.code).toBe(2);
    expect(missing.stderr.toString()).toMatch(/cannot read the config file/);
    const badRev = await kbs(["fx", "v9", "--config", configFile]);
    expect(badRev.code).toBe(2);
    expect(badRev.stderr.toString()).toMatch(/no revision 'v9'/);
  }, 300_000);
});
