import { spawn } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer, type RunningServer } from "../main";
import { loadSettings } from "../core/settings";
import type { BuildView } from "../builds/types";
import { api, buildTestEnv, saveConfig, waitBuild } from "../../test/helpers/builds";
import { kbsBin } from "../../test/helpers/server";
import { tmpDir } from "../../test/helpers/tmp";
import { parseVmManifest } from "./manifest";

/**
 * The VM project for real: the built-in `vm` project (imported at start like every
 * built-in) is built through the real build path — bwrap sandbox, the build-vm image,
 * the recipe's steps including the QEMU boot test — and the result is booted again by
 * `kbs vm run`, which verifies every asset first.
 */
function kbsVm(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [kbsBin, "vm", ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    child.once("exit", (code) => resolve({ code, out }));
  });
}

const sha256 = (b: Buffer) => crypto.createHash("sha256").update(b).digest("hex");

describe("vm image (recipe vm)", () => {
  let server: RunningServer;
  let dataDir: string;
  let build: BuildView;

  beforeAll(async () => {
    dataDir = path.join(tmpDir(), "data");
    const env = { ...buildTestEnv, KBS_BUILTINS: "1", KBS_DATA_DIR: dataDir, PORT: "0", KBS_BUILD_TIMEOUT_SEC: "900", KBS_BUILD_DISK_MB: "512" };
    server = await startServer(loadSettings(env), { withNext: false });
  }, 120_000);

  afterAll(async () => {
    await server?.close();
  });

  it("builds the default image and boots it in QEMU to the marker", async () => {
    const revs = await api<Array<{ sha: string }>>(server.url, "GET", "/api/projects/vm/revisions");
    expect(revs.status).toBe(200);
    const configId = await saveConfig(server.url, "vm", revs.body[0]!.sha, "");
    const req = await api<BuildView>(server.url, "POST", "/api/builds", { project: "vm", rev: revs.body[0]!.sha, configId });
    expect(req.status).toBe(201);
    build = await waitBuild(server.url, req.body.id, undefined, 900_000);
    if (build.state !== "succeeded") {
      const log = await (await fetch(`${server.url}/api/builds/${build.id}/log`)).text();
      throw new Error(`VM build ${build.state}: ${build.errorSummary}\n${log.slice(-4000)}`);
    }
    const names = build.artifacts.map((a) => a.name);
    expect(names).toEqual(expect.arrayContaining(["vmlinuz", "initramfs.cpio.gz", "run-qemu.sh", "vm-manifest.json", "boot.log", "manifest.json"]));

    const get = async (name: string) => Buffer.from(await (await fetch(`${server.url}/api/builds/${build.id}/artifacts/${name}`)).arrayBuffer());
    const manifest = parseVmManifest((await get("vm-manifest.json")).toString(), "vm-manifest.json");
    expect(manifest.kernel.release).toMatch(/^\d+\.\d+\.\d+-\d+-cloud-amd64$/);
    expect(manifest.boot.marker).toBe("KBS-VM-BOOTED");
    expect(manifest.sizeKB).toBeLessThanOrEqual(manifest.sizeBudgetKB);
    for (const a of manifest.assets) {
      const data = await get(a.name);
      expect({ name: a.name, size: data.length, sha256: sha256(data) }).toEqual(a);
    }
    const bootLog = (await get("boot.log")).toString();
    // init's echo: the marker ends a console line (SeaBIOS's screen-clearing escapes may precede it).
    expect(bootLog).toMatch(/KBS-VM-BOOTED\r?\n/);
    expect((await get("run-qemu.sh")).toString()).toContain("-kernel");
  }, 960_000);

  it("kbs vm run fetches the build from a kbs server, verifies it and boots it", async () => {
    expect(build?.state).toBe("succeeded");
    const r = await kbsVm(["run", build.id, "--url", server.url, "--append", "kbs.boottest=1", "--", "-no-reboot"]);
    expect(r.out).toContain("assets verified (sha256)");
    expect(r.out).toContain("KBS-VM-BOOTED");
    expect(r.code).toBe(0);
  }, 300_000);

  it("kbs vm run refuses an image whose asset no longer matches the manifest", async () => {
    expect(build?.state).toBe("succeeded");
    const initrd = build.artifacts.find((a) => a.name === "initramfs.cpio.gz")!;
    // Damage the stored blob in place, as a disk fault or a tampered store would.
    const blob = server.kbs.builds.artifacts.path(initrd.sha256);
    const fd = fs.openSync(blob, "r+");
    fs.writeSync(fd, Buffer.from("tampered"), 0, 8, 1000);
    fs.closeSync(fd);
    const r = await kbsVm(["run", build.id, "--data-dir", dataDir, "--append", "kbs.boottest=1", "--", "-no-reboot"]);
    expect(r.code).toBe(4);
    expect(r.out).toContain(`refusing to boot: initramfs.cpio.gz has sha256`);
    expect(r.out).toContain(`but vm-manifest.json says ${initrd.sha256}`);
    expect(r.out).not.toContain("KBS-VM-BOOTED");
  }, 120_000);

  it("kbs vm run says what is wrong with an unknown build", async () => {
    const r = await kbsVm(["run", "no-such-build", "--data-dir", dataDir]);
    expect(r.code).toBe(2);
    expect(r.out).toContain("there is no build no-such-build");
  }, 120_000);
});
