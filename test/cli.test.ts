import path from "node:path";
import { describe, expect, it } from "vitest";
import { createKbs } from "../server/kbs";
import { run } from "../server/core/proc";
import { loadSettings, procEnv } from "../server/core/settings";
import { createFakeFirmwareRepo } from "./fixtures/fake-firmware";
import { git } from "./helpers/projects";
import { kbsBin } from "./helpers/server";
import { tmpDir } from "./helpers/tmp";

const baseEnv = { KBS_UPSTREAMS: "0", KBS_BUILTINS: "0", KBS_POOL_SIZE: "0", KBS_LOG_LEVEL: "warn" };

function kbsIn(dataDir: string, extra: Record<string, string> = {}) {
  const env = procEnv({ ...process.env, ...baseEnv, ...extra, KBS_DATA_DIR: dataDir });
  return async (args: string[]) => {
    const r = await run(process.execPath, [kbsBin, ...args], { env, timeoutMs: 120_000 });
    return { code: r.code, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
  };
}

/** A Node stack frame in any output means a stack trace reached the user. */
const stackFrame = /^\s+at .+[(:]\d+/m;

describe("kbs command line", () => {
  const kbs = kbsIn(path.join(tmpDir(), "data"));

  it("--help on every verb and sub-verb prints its usage and exits 0", async () => {
    const cases: Array<[string[], RegExp]> = [
      [["--help"], /usage: kbs <verb>/],
      [["serve", "--help"], /usage: kbs serve/],
      [["doctor", "-h"], /usage: kbs doctor/],
      [["project", "--help"], /kbs project add[\s\S]*kbs project remove[\s\S]*kbs project set-url/],
      [["project", "add", "--help"], /^usage: kbs project add <id> --recipe/],
      [["project", "list", "--help"], /^usage: kbs project list/],
      [["project", "remove", "--help"], /^usage: kbs project remove <id>/],
      [["project", "set-url", "--help"], /^usage: kbs project set-url <id> <url>/],
      [["sync", "--help"], /usage: kbs sync/],
      [["revisions", "--help"], /usage: kbs revisions/],
      [["menuconfig", "--help"], /usage: kbs menuconfig/],
      [["build", "--help"], /usage: kbs build/],
      [["worker", "--help"], /usage: kbs worker/],
      [["vm", "run", "--help"], /usage: kbs vm run/],
      [["bench", "--help"], /usage: kbs bench/],
    ];
    for (const [args, usage] of cases) {
      const r = await kbs(args);
      expect({ args, code: r.code, usage: usage.test(r.stdout) }).toEqual({ args, code: 0, usage: true });
      expect(r.stderr).not.toMatch(stackFrame);
    }
  }, 240_000);

  it("an unknown option or a missing argument prints the verb's usage and exits 2, with no stack trace", async () => {
    const cases: Array<[string[], RegExp, RegExp]> = [
      [["project", "add", "x", "--bogus"], /Unknown option '--bogus'/, /usage: kbs project add/],
      [["project", "add"], /give a project id/, /usage: kbs project add/],
      [["project", "frob"], /unknown sub-verb 'frob'/, /kbs project set-url/],
      [["project", "remove"], /give a project id/, /usage: kbs project remove/],
      [["project", "set-url", "klipper"], /give a project id and a URL/, /usage: kbs project set-url/],
      [["sync", "--bogus"], /Unknown option '--bogus'/, /usage: kbs sync/],
      [["revisions"], /give a project/, /usage: kbs revisions/],
      [["revisions", "x", "--limit"], /--limit/, /usage: kbs revisions/],
      [["build", "fx"], /give a project and a revision/, /usage: kbs build/],
      [["menuconfig", "fx", "v1", "--nope"], /Unknown option '--nope'/, /usage: kbs menuconfig/],
      [["doctor", "extra"], /Unexpected argument 'extra'/, /usage: kbs doctor/],
      [["vm"], /give a sub-verb/, /usage: kbs vm run/],
      [["bench", "--frob"], /Unknown option '--frob'/, /usage: kbs bench/],
      [["serve", "--prot", "1"], /Unknown option '--prot'/, /usage: kbs serve/],
    ];
    for (const [args, why, usage] of cases) {
      const r = await kbs(args);
      expect({ args, code: r.code, why: why.test(r.stderr), usage: usage.test(r.stderr) }).toEqual({ args, code: 2, why: true, usage: true });
      expect(r.stderr + r.stdout).not.toMatch(stackFrame);
    }
  }, 240_000);
});

describe("kbs project remove and set-url", () => {
  it("points the pre-registered klipper at a local mirror, syncs it, removes it (configs stay readable, a shared bundle stays) and it stays removed", async () => {
    const dir = tmpDir();
    const dataDir = path.join(dir, "data");
    const mirror = createFakeFirmwareRepo(path.join(dir, "mirror"));
    const kbs = kbsIn(dataDir, { KBS_UPSTREAMS: "1" });

    const listed = await kbs(["project", "list"]);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/^klipper\s+klipper\s+0\s+never\s+https:\/\/github.com\/Klipper3d\/klipper$/m);
    const added = await kbs(["project", "add", "klipper", "--recipe", "klipper", "--url", mirror.dir]);
    expect(added).toMatchObject({ code: 2, stderr: expect.stringMatching(/A project 'klipper' already exists/) });

    expect(await kbs(["project", "set-url", "klipper", path.join(dir, "nope")])).toMatchObject({ code: 2, stderr: expect.stringMatching(/not a git repository we can read/) });
    expect(await kbs(["project", "set-url", "nosuch", mirror.dir])).toMatchObject({ code: 2, stderr: expect.stringMatching(/No project 'nosuch'/) });
    const set = await kbs(["project", "set-url", "klipper", mirror.dir]);
    expect(set).toMatchObject({ code: 0, stdout: expect.stringContaining(`klipper now fetches from ${mirror.dir}`) });
    // A second project on the same tree shares its kconfig bundles.
    expect((await kbs(["project", "add", "twin", "--recipe", "klipper", "--url", mirror.dir])).code).toBe(0);
    const synced = await kbs(["sync", "klipper", "twin"]);
    expect(synced.stderr).toBe("");
    expect(synced.stdout).toMatch(/klipper: ok, 6 new of 6 revisions/);

    // A saved config on klipper (twin shares every kconfig tree).
    const k = await createKbs(loadSettings({ ...process.env, ...baseEnv, KBS_DATA_DIR: dataDir }));
    let configId: string;
    let hashes: string[];
    try {
      configId = k.configs.put({ project: "klipper", rev: "v0.3.0", text: "CONFIG_FEATURE_LCD=y\n" }).id;
      hashes = k.revdb.hashes("klipper");
      for (const h of hashes) await k.bundles.ensure(h);
    } finally {
      await k.close();
    }

    const removed = await kbs(["project", "remove", "klipper"]);
    expect(removed.stderr).toBe("");
    expect(removed).toMatchObject({ code: 0, stdout: expect.stringMatching(/removed klipper: \d+ ref\(s\), 6 indexed revision\(s\), 0 kconfig bundle\(s\) no other project had; .*1 config\(s\) got their minimal form now/) });
    expect(git(path.join(dataDir, "gitref.git"), ["for-each-ref", "--format=%(refname)", "refs/heads/klipper/", "refs/tags/klipper/"])).toBe("");
    // Removed for good: the next start does not register it again.
    const after = await kbs(["project", "list", "--json"]);
    expect((JSON.parse(after.stdout) as Array<{ id: string }>).map((p) => p.id).sort()).toEqual(["kalico", "twin"]);
    expect(await kbs(["project", "remove", "klipper"])).toMatchObject({ code: 2, stderr: expect.stringMatching(/No project 'klipper'/) });

    const k2 = await createKbs(loadSettings({ ...process.env, ...baseEnv, KBS_DATA_DIR: dataDir }));
    try {
      expect(k2.revdb.count("klipper")).toBe(0);
      expect(k2.configs.get(configId)).toMatchObject({ project: "klipper", describe: "v0.3.0" });
      expect(k2.configs.derived(configId)?.defconfig).toContain("CONFIG_FEATURE_LCD=y");
      expect(hashes.every((h) => k2.bundles.has(h))).toBe(true); // twin still has them
    } finally {
      await k2.close();
    }
    // Without twin the bundles go (the saved config keeps the one it was made on).
    expect((await kbs(["project", "remove", "twin"])).stdout).toMatch(new RegExp(`removed twin: .* ${hashes.length - 1} kconfig bundle\\(s\\) no other project had`));
  }, 300_000);
});
