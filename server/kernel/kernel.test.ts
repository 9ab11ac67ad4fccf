import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../main";
import { procEnv } from "../core/settings";
import type { BuildView, Manifest } from "../builds/types";
import { api, serveFixtureProject, waitBuild } from "../../test/helpers/builds";
import { TerminalClient } from "../../test/helpers/terminal";
import { tmpDir } from "../../test/helpers/tmp";
import { createFakeLinuxRepo, type FakeLinuxRepo } from "../../test/fixtures/fake-linux";

/**
 * The maintainer flow on a kernel-like tree (recipe `linux`), through the real server:
 * starting points made by the tree's own Makefile in a sandbox, the minimal form,
 * the diff against arch/<arch>/configs/<name>_defconfig and a patch `git am` applies,
 * and the tree's menuconfig in a real session over the WebSocket.
 */
describe("kernel defconfigs (recipe linux, fake kernel tree)", () => {
  let server: RunningServer;
  let repo: FakeLinuxRepo;
  let base: string;
  let defconfigId: string;

  beforeAll(async () => {
    const dir = tmpDir();
    repo = createFakeLinuxRepo(path.join(dir, "linux"));
    ({ server, base } = await serveFixtureProject(dir, "linux", repo.dir, "linux"));
  }, 180_000);

  afterAll(async () => {
    await server?.close();
  });

  const configText = async (id: string) => (await api<string>(base, "GET", `/api/configs/${id}/raw`)).body;

  it("lists the architectures the tree has", async () => {
    const r = await api(base, "GET", "/api/kernel/arches?project=linux&rev=v6.1.2");
    expect(r.body).toEqual({ arches: ["x86_64", "i386", "arm64"], default: "x86_64" });
  });

  it("starts from the arch's defconfig and from tinyconfig, made by the tree's own Makefile", async () => {
    const r = await api<{ id: string; arch: string }>(base, "POST", "/api/kernel/start", { project: "linux", rev: "v6.1.2", start: "defconfig" });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(r.body.arch).toBe("x86_64");
    defconfigId = r.body.id;
    const text = await configText(defconfigId);
    expect(text).toContain("CONFIG_NR_CPUS=8\n");
    expect(text).toContain('CONFIG_LOCALVERSION="-fake"\n');
    expect(text).toContain("CONFIG_X86_64=y\n");

    const tiny = await api<{ id: string }>(base, "POST", "/api/kernel/start", { project: "linux", rev: "v6.1.2", start: "tinyconfig" });
    expect(await configText(tiny.body.id)).toContain("# CONFIG_64BIT is not set\n");

    const arm = await api<{ id: string; arch: string }>(base, "POST", "/api/kernel/start", { project: "linux", rev: "v6.1.2", start: "defconfig", arch: "arm64" });
    expect(arm.body.arch).toBe("arm64");
    const armText = await configText(arm.body.id);
    expect(armText).toContain("CONFIG_ARM64=y\n");
    expect(armText).toContain('CONFIG_LOCALVERSION="-fake-arm64"\n');
    // The arch is read back from the config: its diff is against arch/arm64/configs/defconfig.
    const armDiff = await api<string>(base, "GET", `/api/configs/${arm.body.id}/defconfig-diff?against=defconfig`);
    expect(armDiff.status).toBe(200);
    expect(armDiff.body).toBe("");
  }, 300_000);

  it("refuses bad starting points with a clear message", async () => {
    const bad = await api<{ error: { code: string; message: string } }>(base, "POST", "/api/kernel/start", { project: "linux", rev: "v6.1.2", start: "rm -rf /" });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe("bad_start");
    const missing = await api<{ error: { code: string; message: string } }>(base, "POST", "/api/kernel/start", { project: "linux", rev: "v6.1.2", start: "nosuch_defconfig" });
    expect(missing.status).toBe(404);
    expect(missing.body.error.message).toContain("it has: i386_defconfig, x86_64_defconfig");
    const arch = await api<{ error: { code: string } }>(base, "POST", "/api/kernel/start", { project: "linux", rev: "v6.1.2", start: "defconfig", arch: "riscv" });
    expect(arch.status).toBe(400);
    expect(arch.body.error.code).toBe("bad_arch");
  });

  it("diffs the minimal form against the tree's defconfig and another config, and makes a patch git am applies", async () => {
    const text = (await configText(defconfigId)).replace("CONFIG_NR_CPUS=8", "CONFIG_NR_CPUS=16");
    const changed = await api<{ id: string }>(base, "POST", "/api/configs", { project: "linux", rev: "v6.1.2", text });
    const id = changed.body.id;

    const diff = await api<string>(base, "GET", `/api/configs/${id}/defconfig-diff?against=x86_64`);
    expect(diff.status).toBe(200);
    expect(diff.headers.get("content-type")).toContain("text/x-diff");
    expect(diff.body).toContain("--- a/arch/x86/configs/x86_64_defconfig\n+++ b/arch/x86/configs/x86_64_defconfig\n");
    expect(diff.body).toContain("-CONFIG_NR_CPUS=8\n");
    expect(diff.body).toContain("+CONFIG_NR_CPUS=16\n");

    const vsConfig = await api<string>(base, "GET", `/api/configs/${id}/defconfig-diff?against=${defconfigId}`);
    expect(vsConfig.body).toMatch(/^--- a\/config-[0-9a-f]{12}\n\+\+\+ b\/config-[0-9a-f]{12}\n@@ .*\n(.*\n)*-CONFIG_NR_CPUS=8\n\+CONFIG_NR_CPUS=16\n/);

    const minimal = (await api<{ defconfig: string }>(base, "GET", `/api/configs/${id}`)).body.defconfig;
    const patch = await api<string>(base, "GET", `/api/configs/${id}/defconfig-patch?name=x86_64`);
    expect(patch.status).toBe(200);
    expect(patch.body).toMatch(/^From [0-9a-f]{40} Mon Sep 17 00:00:00 2001\nFrom: kbs <kbs@localhost>\n/m);
    expect(patch.body).toContain("Subject: [PATCH] x86: configs: update x86_64_defconfig\n");
    expect(patch.body).toContain(` arch/x86/configs/x86_64_defconfig | `);
    expect(patch.headers.get("content-disposition")).toBe('attachment; filename="0001-update-x86_64_defconfig.patch"');

    // Apply it to a clone at the same revision, as a maintainer would.
    const clone = path.join(tmpDir(), "clone");
    execFileSync("git", ["clone", "-q", "--branch", "v6.1.2", repo.dir, clone]);
    const env = procEnv({ ...process.env, GIT_COMMITTER_NAME: "m", GIT_COMMITTER_EMAIL: "m@kbs.invalid" });
    execFileSync("git", ["am", "-q"], { cwd: clone, input: patch.body, env });
    expect(fs.readFileSync(path.join(clone, "arch/x86/configs/x86_64_defconfig"), "utf8")).toBe(minimal);
    expect(minimal).toContain("CONFIG_NR_CPUS=16\n");
  }, 300_000);

  it("answers unknown defconfig names and unchanged configs plainly", async () => {
    const none = await api<{ error: { code: string; message: string } }>(base, "GET", `/api/configs/${defconfigId}/defconfig-diff?against=nosuch`);
    expect(none.status).toBe(404);
    expect(none.body.error.message).toContain("has no arch/x86/configs/nosuch_defconfig");
    const bad = await api<{ error: { code: string } }>(base, "GET", `/api/configs/${defconfigId}/defconfig-patch?name=../../etc/passwd`);
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe("bad_defconfig_name");
  });

  it("builds with the linux recipe: bzImage, modules when any =m, System.map, kernel.release, vmlinux as optional", async () => {
    const text = (await configText(defconfigId)).replace(/^.*CONFIG_VIRTIO_NET[ =].*$/m, "") + "CONFIG_VIRTIO_NET=m\n";
    const { body: cfg } = await api<{ id: string }>(base, "POST", "/api/configs", { project: "linux", rev: "v6.1.2", text });
    const req = await api<BuildView>(base, "POST", "/api/builds", { project: "linux", rev: "v6.1.2", configId: cfg.id });
    expect(req.status).toBe(201);
    const done = await waitBuild(base, req.body.id, undefined, 300_000);
    expect(done.errorSummary).toBeNull();
    expect(done.state).toBe("succeeded");
    const log = await (await fetch(`${base}/api/builds/${done.id}/log`)).text();
    const manifest = done.manifest as Manifest;
    const listed = Object.fromEntries(manifest.artifacts.map((a) => [a.name, a.optional]));
    expect(listed, log).toEqual({ "bzImage": false, "System.map": false, ".config": false, "kernel.release": false, "modules.tar.xz": false, vmlinux: true });
    const release = await (await fetch(`${base}/api/builds/${done.id}/artifacts/kernel.release`)).text();
    expect(release).toBe("6.1.2-fake\n");
    expect(manifest.kernelVersion).toBe("6.1.2-fake");
    expect(log).toContain("MODULES (none in this fake tree)");
    // The recipe pins KBUILD_BUILD_* (TuxMake's reproducible settings), the timestamp from the commit.
    const stamp = new Date(Number(manifest.pinned.SOURCE_DATE_EPOCH) * 1000).toUTCString().replace("GMT", "+0000");
    expect(manifest.pinned).toMatchObject({ KBUILD_BUILD_USER: "kbs", KBUILD_BUILD_HOST: "kbs", KBUILD_BUILD_TIMESTAMP: stamp });
    const image = Buffer.from(await (await fetch(`${base}/api/builds/${done.id}/artifacts/bzImage`)).arrayBuffer()).toString("latin1");
    expect(image).toContain(`Linux version 6.1.2-fake (kbs@kbs) #1 ${stamp}`);
  }, 360_000);

  it("runs the tree's menuconfig for the chosen ARCH in a real session", async () => {
    const s = await api<{ id: string; wsPath: string }>(base, "POST", "/api/sessions", { project: "linux", rev: "v6.1.2", configId: defconfigId, arch: "x86_64" });
    expect(s.status).toBe(201);
    const term = await TerminalClient.connect(base, s.body.wsPath, { cols: 100, rows: 30 });
    try {
      await term.untilText("Fake Linux/x86_64", 60_000);
      await term.untilText("General setup", 20_000);
      expect(term.screen.text()).toContain("Device Drivers");
    } finally {
      term.close();
    }
  }, 120_000);
});
