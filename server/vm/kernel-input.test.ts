import crypto from "node:crypto";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addFixtureProject } from "../../test/fixtures/builds";
import { startServer, type RunningServer } from "../main";
import { loadSettings } from "../core/settings";
import type { BuildView } from "../builds/types";
import { api, buildTestEnv, saveConfig, waitBuild } from "../../test/helpers/builds";
import { tmpDir } from "../../test/helpers/tmp";
import { createFakeLinuxRepo } from "../../test/fixtures/fake-linux";
import { parseVmManifest } from "./manifest";

/**
 * A VM image on a kernel built by this portal, through the real builder: two kernel builds
 * of the fake kernel tree (recipe linux: its "bzImage" is a small ELF, not bootable, so the
 * VM builds turn the boot test off), then VM builds whose config names them by build id.
 * The builder hands the bzImage in, the VM's vmlinuz is that file byte for byte, the
 * manifest lists the input, another kernel build is another VM build, and ids that are not
 * a succeeded linux build fail the VM build at step `inputs` saying which id and why.
 */
describe("vm image on a kernel built here (recipe inputs)", () => {
  let server: RunningServer;
  let base: string;
  let vmRev: string;
  const kernels: Record<"a" | "b", BuildView> = {} as never;

  const bytes = async (id: string, name: string) => Buffer.from(await (await fetch(`${base}/api/builds/${id}/artifacts/${name}`)).arrayBuffer());
  const sha256 = (b: Buffer) => crypto.createHash("sha256").update(b).digest("hex");
  const request = async (project: string, rev: string, text: string) => {
    const configId = await saveConfig(base, project, rev, text);
    return api<BuildView>(base, "POST", "/api/builds", { project, rev, configId });
  };
  const finished = async (project: string, rev: string, text: string) => {
    const r = await request(project, rev, text);
    const done = await waitBuild(base, r.body.id, undefined, 600_000);
    if (done.state !== "succeeded") throw new Error(`${project} build ${done.state}: ${done.errorSummary}\n${(await (await fetch(`${base}/api/builds/${done.id}/log`)).text()).slice(-3000)}`);
    return { status: r.status, build: done };
  };
  const vmConfig = (kernelBuild: string) => `CONFIG_VM_KERNEL_BUILD=y\nCONFIG_VM_KERNEL_BUILD_ID="${kernelBuild}"\n# CONFIG_VM_BOOT_TEST is not set\n`;

  beforeAll(async () => {
    const dir = tmpDir();
    const env = { ...buildTestEnv, KBS_BUILTINS: "1", KBS_DATA_DIR: path.join(dir, "data"), PORT: "0", KBS_BUILD_TIMEOUT_SEC: "300", KBS_BUILD_DISK_MB: "512" };
    const repo = createFakeLinuxRepo(path.join(dir, "linux"));
    await addFixtureProject(env, "linux", repo.dir, "linux");
    server = await startServer(loadSettings(env), { withNext: false });
    base = server.url;
    vmRev = (await api<Array<{ sha: string }>>(base, "GET", "/api/projects/vm/revisions")).body[0]!.sha;
  }, 180_000);

  afterAll(async () => {
    await server?.close();
  });

  it("builds two kernels with the linux recipe, each with its kernel version in the manifest", async () => {
    kernels.a = (await finished("linux", "v6.1.2", 'CONFIG_LOCALVERSION="-kbs-a"\n')).build;
    kernels.b = (await finished("linux", "v6.1.2", 'CONFIG_LOCALVERSION="-kbs-b"\n')).build;
    expect(kernels.a.manifest?.kernelVersion).toBe("6.1.2-kbs-a");
    expect(kernels.b.manifest?.kernelVersion).toBe("6.1.2-kbs-b");
  }, 600_000);

  it("builds the VM image on kernel build A: its vmlinuz is A's bzImage, the manifest lists the input", async () => {
    const bzImage = kernels.a.artifacts.find((a) => a.name === "bzImage")!;
    const { status, build } = await finished("vm", vmRev, vmConfig(kernels.a.id));
    expect(status).toBe(201);
    expect(build.manifest?.inputs).toEqual([{ symbol: "VM_KERNEL_BUILD_ID", buildId: kernels.a.id, artifact: "bzImage", sha256: bzImage.sha256 }]);
    const vmlinuz = await bytes(build.id, "vmlinuz");
    expect(sha256(vmlinuz)).toBe(bzImage.sha256);
    expect(vmlinuz.equals(await bytes(kernels.a.id, "bzImage"))).toBe(true);
    const vmManifest = parseVmManifest((await bytes(build.id, "vm-manifest.json")).toString(), "vm-manifest.json");
    expect(vmManifest.kernel.source).toBe(`build:${kernels.a.id}`);
    expect((await bytes(build.id, "boot.log")).toString()).toContain("boot test skipped");
    const repro = (await bytes(build.id, "reproduce.sh")).toString();
    expect(repro).toContain(`"$KBS_URL"/api/builds/${kernels.a.id}/artifacts/bzImage -o "$KBS_IN"/kernel/bzImage`);
    expect(repro).toContain(bzImage.sha256);

    // The same request again is the same build; kernel build B is another one (no false cache hit).
    const again = await request("vm", vmRev, vmConfig(kernels.a.id));
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(build.id);
    const onB = await finished("vm", vmRev, vmConfig(kernels.b.id));
    expect(onB.status).toBe(201);
    expect(onB.build.id).not.toBe(build.id);
    const bImage = kernels.b.artifacts.find((a) => a.name === "bzImage")!;
    expect(bImage.sha256).not.toBe(bzImage.sha256);
    expect(onB.build.manifest?.inputs?.[0]?.sha256).toBe(bImage.sha256);
    expect(sha256(await bytes(onB.build.id, "vmlinuz"))).toBe(bImage.sha256);
  }, 600_000);

  it("fails at step inputs, naming the id and why, for ids that are not a succeeded linux build", async () => {
    const vmBuild = (await request("vm", vmRev, vmConfig(kernels.a.id))).body.id;
    const cancelled = (await request("linux", "v6.1.2", 'CONFIG_LOCALVERSION="-kbs-cancelled"\n')).body.id;
    await api(base, "DELETE", `/api/builds/${cancelled}`);
    const cases: Array<[string, string]> = [
      ["00000000deadbeef", "there is no build 00000000deadbeef on this portal"],
      [cancelled, `build ${cancelled} is cancelled, not succeeded`],
      [vmBuild, `build ${vmBuild} is a build of project 'vm' (recipe vm); VM_KERNEL_BUILD_ID takes builds of recipe linux`],
    ];
    for (const [id, why] of cases) {
      const r = await request("vm", vmRev, vmConfig(id));
      const done = await waitBuild(base, r.body.id);
      expect(done.state).toBe("failed");
      expect(done.failedStep).toBe("inputs");
      expect(done.errorSummary).toContain(`VM_KERNEL_BUILD_ID=${id}: ${why}.`);
    }
  }, 300_000);
});
