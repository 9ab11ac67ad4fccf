import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createKbs } from "../kbs";
import { startServer, type RunningServer } from "../main";
import { loadSettings, procEnv } from "../core/settings";
import { api, buildTestEnv } from "../../test/helpers/builds";
import { tmpDir } from "../../test/helpers/tmp";

/**
 * Opt-in (KBS_TEST_LINUX=1, needs `apt-get install linux-source-6.1`): the real Linux 6.1
 * tree imported from Debian's tarball. Its kconfig-only bundle (recipe linux's
 * kconfigPaths) must be enough for the tree's own Makefile to build conf and run the
 * Kconfig preprocessor's compiler probes in the sandbox: make defconfig/tinyconfig and
 * savedefconfig there, then the defconfig diff and a patch git am applies.
 */
const TARBALL = "/usr/src/linux-source-6.1.tar.xz";
const enabled = process.env.KBS_TEST_LINUX === "1";

describe.skipIf(!enabled)("Linux 6.1 from linux-source-6.1 (opt-in)", () => {
  let server: RunningServer;
  let base: string;

  beforeAll(async () => {
    if (!fs.existsSync(TARBALL)) throw new Error(`${TARBALL} is missing: apt-get install linux-source-6.1`);
    const dataDir = path.join(tmpDir(), "data");
    const env = { ...buildTestEnv, KBS_DATA_DIR: dataDir, PORT: "0" };
    const kbs = await createKbs(loadSettings(env));
    try {
      kbs.projects.add({ id: "linux", recipe: "linux", upstream: { kind: "tarball", path: TARBALL, revName: "v6.1" } });
      await kbs.sync.sync("linux");
    } finally {
      await kbs.close();
    }
    server = await startServer(loadSettings(env), { withNext: false });
    base = server.url;
  }, 900_000);

  afterAll(async () => {
    await server?.close();
  });

  it("offers the tree's architectures", async () => {
    const r = await api<{ arches: string[] }>(base, "GET", "/api/kernel/arches?project=linux&rev=v6.1");
    expect(r.body.arches).toEqual(["x86_64", "i386", "arm64", "arm", "riscv", "powerpc", "mips", "s390"]);
  });

  it("makes x86_64 defconfig and tinyconfig with the tree's own conf in the sandbox", async () => {
    const def = await api<{ id: string }>(base, "POST", "/api/kernel/start", { project: "linux", rev: "v6.1", start: "defconfig" });
    expect(def.status, JSON.stringify(def.body)).toBe(201);
    const text = (await api<string>(base, "GET", `/api/configs/${def.body.id}/raw`)).body;
    expect(text).toContain("CONFIG_X86_64=y\n");
    expect(text).toContain("CONFIG_VIRTIO_NET=y\n");
    // The preprocessor's compiler probes saw gcc in the sandbox.
    expect(text).toContain("CONFIG_CC_IS_GCC=y\n");
    const tiny = await api<{ id: string }>(base, "POST", "/api/kernel/start", { project: "linux", rev: "v6.1", start: "tinyconfig" });
    const tinyText = (await api<string>(base, "GET", `/api/configs/${tiny.body.id}/raw`)).body;
    expect(tinyText).toContain("CONFIG_KERNEL_XZ=y\n");
    expect(tinyText).toContain("# CONFIG_NET is not set\n");
  }, 900_000);

  it("diffs a changed defconfig against x86_64_defconfig and makes a patch git am applies", async () => {
    const def = await api<{ id: string }>(base, "POST", "/api/kernel/start", { project: "linux", rev: "v6.1", start: "defconfig" });
    const text = (await api<string>(base, "GET", `/api/configs/${def.body.id}/raw`)).body.replace(/^CONFIG_NR_CPUS=\d+$/m, "CONFIG_NR_CPUS=8");
    const changed = await api<{ id: string }>(base, "POST", "/api/configs", { project: "linux", rev: "v6.1", text });
    const diff = await api<string>(base, "GET", `/api/configs/${changed.body.id}/defconfig-diff?against=x86_64`);
    expect(diff.status, diff.body).toBe(200);
    expect(diff.body).toContain("+CONFIG_NR_CPUS=8\n");

    const patch = await api<string>(base, "GET", `/api/configs/${changed.body.id}/defconfig-patch?name=x86_64`);
    expect(patch.status).toBe(200);
    const repo = path.join(tmpDir(), "linux-git");
    const file = "arch/x86/configs/x86_64_defconfig";
    fs.mkdirSync(path.join(repo, path.dirname(file)), { recursive: true });
    fs.writeFileSync(path.join(repo, file), execFileSync("tar", ["-xOJf", TARBALL, `linux-source-6.1/${file}`]));
    const env = procEnv({ ...process.env, GIT_AUTHOR_NAME: "m", GIT_AUTHOR_EMAIL: "m@kbs.invalid", GIT_COMMITTER_NAME: "m", GIT_COMMITTER_EMAIL: "m@kbs.invalid" });
    execFileSync("git", ["init", "-q"], { cwd: repo, env });
    execFileSync("git", ["add", "."], { cwd: repo, env });
    execFileSync("git", ["commit", "-q", "-m", "v6.1"], { cwd: repo, env });
    execFileSync("git", ["am", "-q"], { cwd: repo, input: patch.body, env });
    expect(fs.readFileSync(path.join(repo, file), "utf8")).toContain("CONFIG_NR_CPUS=8\n");
  }, 900_000);
});
