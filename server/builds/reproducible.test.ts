import crypto from "node:crypto";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer, type RunningServer } from "../main";
import { loadSettings, procEnv } from "../core/settings";
import { tmpDir } from "../../test/helpers/tmp";
import { addProject, api, buildTestEnv, saveConfig, waitBuild } from "../../test/helpers/builds";
import { createBuildFixtureRepo, type BuildFixture } from "../../test/fixtures/builds";
import type { BuildView, Manifest } from "./types";

/**
 * Builds identical to a local build: the build tree is a git work tree with the project's
 * refs under their upstream names, the identity is pinned, reproduce.sh passes on a fresh
 * clone, and verify rebuilds and compares. Real git repos, real servers, real bwrap sandboxes.
 */
const sha = (file: string) => crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex");
const run = (cmd: string, args: string[], cwd: string) => execFileSync(cmd, args, { cwd, encoding: "utf8", env: procEnv({ ...process.env }), stdio: ["ignore", "pipe", "pipe"] });
const versionIn = (data: Buffer) => /KBS-VERSION:([^\0]*?):END/.exec(data.toString("latin1"))?.[1];
const hostConfig = "CONFIG_ARCH_HOST=y\n";

describe("reproducible builds", () => {
  let dir: string;
  let fx: BuildFixture;
  const servers: RunningServer[] = [];

  async function server(name: string): Promise<RunningServer> {
    const dataDir = path.join(dir, name);
    await addProject(dataDir, "fx", fx.dir);
    const s = await startServer(loadSettings({ ...buildTestEnv, KBS_BUILD_TIMEOUT_SEC: "120", KBS_DATA_DIR: dataDir, PORT: "0" }), { withNext: false });
    servers.push(s);
    return s;
  }

  async function build(s: RunningServer, rev: string, text = hostConfig): Promise<BuildView> {
    const configId = await saveConfig(s.url, "fx", rev, text);
    const r = await api<BuildView>(s.url, "POST", "/api/builds", { project: "fx", rev, configId });
    expect(r.status).toBeLessThan(300);
    return waitBuild(s.url, r.body.id);
  }

  const verified = (s: RunningServer, id: string) => waitBuild(s.url, id, (b) => b.verification !== null && b.verification.state !== "running", 180_000);

  beforeAll(() => {
    dir = tmpDir();
    fx = createBuildFixtureRepo(path.join(dir, "repo"));
  });

  afterAll(async () => {
    for (const s of servers) await s.close();
  });

  it("two builds in two data dirs equal a bare make in a git clone, the version is the clone's git describe, and reproduce.sh passes on a fresh clone", async () => {
    const [a, b] = [await server("data-a"), await server("data-b")];
    const [one, two] = [await build(a, "stamped"), await build(b, "stamped")];
    expect(one.errorSummary).toBeNull();
    expect(two.state).toBe("succeeded");
    const outputs = (v: BuildView) => Object.fromEntries(v.artifacts.filter((x) => !["manifest.json", "reproduce.sh"].includes(x.name)).map((x) => [x.name, x.sha256]));
    expect(Object.keys(outputs(one)).sort()).toEqual(["demo.bin", "demo.elf"]);
    expect(outputs(two)).toEqual(outputs(one));

    // A user's `git clone` + `make`, outside any sandbox and without any pins.
    const clone = path.join(dir, "clone");
    run("git", ["clone", "-q", "-b", "stamped", fx.dir, clone], dir);
    fs.writeFileSync(path.join(clone, ".config"), hostConfig);
    run("make", ["-s", "olddefconfig"], clone);
    run("make", ["-s"], clone);
    expect({ "demo.bin": sha(path.join(clone, "out/demo.bin")), "demo.elf": sha(path.join(clone, "out/demo.elf")) }).toEqual(outputs(one));

    const describe = run("git", ["describe", "--always", "--tags", "--long", "--dirty"], clone).trim();
    expect(describe).toMatch(/^v0\.3\.0-1-g[0-9a-f]+$/);
    const elf = Buffer.from(await (await fetch(`${a.url}/api/builds/${one.id}/artifacts/demo.elf`)).arrayBuffer());
    expect(versionIn(elf)).toBe(describe);

    const manifest = one.manifest as Manifest;
    expect(manifest.pinned).toMatchObject({ TZ: "UTC", LC_ALL: "C.UTF-8", hostname: "kbs", user: "kbs", umask: "022", sourcePath: "/tmp/kbs-src-fx" });
    expect(manifest.pinned.SOURCE_DATE_EPOCH).toBe(run("git", ["show", "-s", "--format=%ct", "stamped"], fx.dir).trim());
    for (const step of ["queue", "setup", "sandbox", "checkout", "olddefconfig", "toolchain", "build", "artifacts", "collect", "store"]) {
      expect(manifest.timings.map((t) => t.step)).toContain(step);
    }

    // reproduce.sh, run as a person would on their machine: a fresh clone of the upstream, no kbs.
    const script = path.join(dir, "reproduce.sh");
    fs.writeFileSync(script, Buffer.from(await (await fetch(`${a.url}/api/builds/${one.id}/artifacts/reproduce.sh`)).arrayBuffer()));
    const out = run("sh", [script, fx.dir, path.join(dir, "repro-work")], dir);
    expect(out).toContain(`SOURCE_DATE_EPOCH=${manifest.pinned.SOURCE_DATE_EPOCH}`);
    expect(out).toContain("host name now: kbs");
    expect(out).toMatch(/out\/demo\.elf: OK/);
    expect(out).toMatch(/out\/demo\.bin: OK/);
    // reproduce.sh leaves its source-path link behind, as it would on a user's machine: remove ours.
    const link = manifest.pinned.sourcePath!;
    if (fs.lstatSync(link).isSymbolicLink() && fs.readlinkSync(link).startsWith(dir)) fs.rmSync(link);
  }, 300_000);

  it("verify says reproducible for the stamped firmware and names the artifact of a build with randomness", async () => {
    const s = await server("data-verify");
    const good = await build(s, "stamped");
    const noisy = await build(s, "random");
    expect(noisy.artifacts.map((x) => x.name)).toContain("random.bin");

    const [v1, v2] = await Promise.all([api<BuildView>(s.url, "POST", `/api/builds/${noisy.id}/verify`), api<BuildView>(s.url, "POST", `/api/builds/${noisy.id}/verify`)]);
    // Two at once run once: one starts it (202), the other joins it (200).
    expect([v1.status, v2.status].sort()).toEqual([200, 202]);
    expect(v1.body.verification!.startedAt).toBe(v2.body.verification!.startedAt);
    await api(s.url, "POST", `/api/builds/${good.id}/verify`);

    const n = await verified(s, noisy.id);
    expect(n.reproducible).toBe(false);
    expect(n.verification!.differences).toEqual([expect.objectContaining({ name: "random.bin" })]);
    expect(n.verification!.differences[0]!.offset).toBeGreaterThanOrEqual(0);
    const log = await (await fetch(`${s.url}/api/builds/${noisy.id}/verify/log`)).text();
    expect(log.match(/kbs: verify: a fresh work tree/g)).toHaveLength(1);
    expect(log).toMatch(/CCACHE_DISABLE|ccache off/);

    const g = await verified(s, good.id);
    expect(g.verification).toMatchObject({ state: "done", reproducible: true, differences: [] });
  }, 300_000);

  it("verify of a failed build is a 409 and of an expired one a 410; an unknown build a 404", async () => {
    const s = servers[servers.length - 1] ?? (await server("data-errors"));
    const broken = await build(s, "broken");
    expect(broken.state).toBe("failed");
    const r409 = await api<{ error: { code: string; message: string } }>(s.url, "POST", `/api/builds/${broken.id}/verify`);
    expect(r409.status).toBe(409);
    expect(r409.body.error.message).toMatch(/failed at step 'build'.*only a build that succeeded can be verified/);

    const ok = await build(s, "v0.3.0");
    s.kbs.builds.store.expire(ok.id);
    const r410 = await api<{ error: { code: string; message: string } }>(s.url, "POST", `/api/builds/${ok.id}/verify`);
    expect(r410.status).toBe(410);
    expect(r410.body.error.message).toMatch(/expired/);
    expect((await api(s.url, "POST", "/api/builds/0123456789abcdef/verify")).status).toBe(404);
  }, 300_000);
});
