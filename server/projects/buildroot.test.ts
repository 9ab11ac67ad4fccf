import { execFileSync } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addFixtureProject } from "../../test/fixtures/builds";
import { startServer, type RunningServer } from "../main";
import { loadSettings, procEnv } from "../core/settings";
import { api, buildTestEnv, serveFixtureProject, waitBuild } from "../../test/helpers/builds";
import type { BuildView } from "../builds/types";
import { TerminalClient } from "../../test/helpers/terminal";
import { tmpDir } from "../../test/helpers/tmp";
import { createFakeBr2External, createFakeBuildrootRepo, type FakeBuildrootRepo } from "../../test/fixtures/fake-buildroot";

const kbsBin = path.resolve(import.meta.dirname, "../../bin/kbs.mjs");
/** The real `kbs` CLI on a data dir: its exit code and what it printed. */
function kbsCli(env: Record<string, string>, args: string[]): { code: number; out: string } {
  try {
    return { code: 0, out: execFileSync(process.execPath, [kbsBin, ...args], { env: procEnv({ ...process.env, ...env }), stdio: ["ignore", "pipe", "pipe"] }).toString() };
  } catch (e) {
    const err = e as { status: number; stdout: Buffer; stderr: Buffer };
    return { code: err.status, out: `${err.stdout.toString()}${err.stderr.toString()}` };
  }
}

/**
 * The buildroot recipe on a Buildroot-shaped tree, through the real server: symbols
 * named BR2_* with no prefix, defconfig starts from configs/, the minimal form by the
 * tree's own `make savedefconfig`, its diff and a patch `git am` applies, the derived
 * forms, and the tree's own `make menuconfig` in a real session.
 */
describe("buildroot recipe (Buildroot-shaped fixture)", () => {
  let server: RunningServer;
  let repo: FakeBuildrootRepo;
  let base: string;
  let startId: string;
  let dataDir: string;

  beforeAll(async () => {
    const dir = tmpDir();
    repo = createFakeBuildrootRepo(path.join(dir, "br"));
    ({ server, base, dataDir } = await serveFixtureProject(dir, "br", repo.dir, "buildroot"));
  }, 180_000);

  afterAll(async () => {
    await server?.close();
  });

  const configText = async (id: string) => (await api<string>(base, "GET", `/api/configs/${id}/raw`)).body;

  it("starts from configs/<name>_defconfig with the tree's own make (POST /api/configs/start)", async () => {
    const r = await api<{ id: string; variant?: string }>(base, "POST", "/api/configs/start", { project: "br", rev: "2026.05.1", start: "qemu_x86_64_defconfig" });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(r.body.variant).toBeUndefined();
    startId = r.body.id;
    const text = await configText(startId);
    expect(text).toContain("BR2_x86_64=y\n");
    expect(text).toContain("BR2_PACKAGE_GREET=y\n");
    expect(text).toContain("# BR2_aarch64 is not set\n");
    expect(text).not.toMatch(/^CONFIG_/m);
    // The same start through the kernel's name for the route.
    const alias = await api<{ id: string }>(base, "POST", "/api/kernel/start", { project: "br", rev: "2026.05.1", start: "qemu_x86_64_defconfig" });
    expect(alias.body.id).toBe(startId);
  }, 300_000);

  it("refuses starts it cannot make, naming what there is", async () => {
    const missing = await api<{ error: { code: string; message: string } }>(base, "POST", "/api/configs/start", { project: "br", rev: "2026.05.1", start: "nosuch_defconfig" });
    expect(missing.status).toBe(404);
    expect(missing.body.error.message).toContain("has no configs/nosuch_defconfig; it has: qemu_aarch64_virt_defconfig, qemu_x86_64_defconfig");
    const target = await api<{ error: { code: string } }>(base, "POST", "/api/configs/start", { project: "br", rev: "2026.05.1", start: "tinyconfig" });
    expect(target.body.error.code).toBe("bad_start");
    const variant = await api<{ error: { code: string } }>(base, "POST", "/api/configs/start", { project: "br", rev: "2026.05.1", start: "qemu_x86_64_defconfig", variant: "arm64" });
    expect(variant).toMatchObject({ status: 400, body: { error: { code: "bad_arch" } } });
  });

  it("diffs the minimal form against configs/<name>_defconfig (empty when equal) and makes a patch git am applies", async () => {
    const equal = await api<string>(base, "GET", `/api/configs/${startId}/defconfig-diff?against=qemu_x86_64`);
    expect(equal).toMatchObject({ status: 200, body: "" });

    const text = (await configText(startId)).replace('BR2_TARGET_GENERIC_HOSTNAME="buildroot"', 'BR2_TARGET_GENERIC_HOSTNAME="kbs"');
    const saved = await api<{ id: string }>(base, "POST", "/api/configs", { project: "br", rev: "2026.05.1", text });
    expect(saved.status).toBe(201);
    const id = saved.body.id;
    const diff = await api<string>(base, "GET", `/api/configs/${id}/defconfig-diff?against=qemu_x86_64_defconfig`);
    expect(diff.status).toBe(200);
    expect(diff.body).toContain("--- a/configs/qemu_x86_64_defconfig\n+++ b/configs/qemu_x86_64_defconfig\n");
    expect(diff.body).toContain('+BR2_TARGET_GENERIC_HOSTNAME="kbs"\n');

    const view = (await api<{ defconfig: string; changed: Array<{ symbol: string; value: string; default: string }> }>(base, "GET", `/api/configs/${id}`)).body;
    expect(view.defconfig).toBe('BR2_x86_64=y\nBR2_TARGET_GENERIC_HOSTNAME="kbs"\nBR2_PACKAGE_HELLO=y\nBR2_PACKAGE_GREET=y\n');
    expect(view.changed).toEqual(expect.arrayContaining([{ symbol: "BR2_TARGET_GENERIC_HOSTNAME", value: "kbs", default: "buildroot" }, { symbol: "BR2_PACKAGE_GREET", value: "y", default: "n" }]));

    const patch = await api<string>(base, "GET", `/api/configs/${id}/defconfig-patch?name=qemu_x86_64`);
    expect(patch.status).toBe(200);
    expect(patch.body).toContain("Subject: [PATCH] configs/qemu_x86_64_defconfig: update\n");
    const clone = path.join(tmpDir(), "clone");
    execFileSync("git", ["clone", "-q", "--branch", "2026.05.1", repo.dir, clone]);
    const env = procEnv({ ...process.env, GIT_COMMITTER_NAME: "m", GIT_COMMITTER_EMAIL: "m@kbs.invalid" });
    execFileSync("git", ["am", "-q"], { cwd: clone, input: patch.body, env });
    expect(fs.readFileSync(path.join(clone, "configs/qemu_x86_64_defconfig"), "utf8")).toBe(view.defconfig);
  }, 300_000);

  it("runs the tree's own make menuconfig in a real session and saves BR2_ symbols", async () => {
    const s = await api<{ id: string; wsPath: string }>(base, "POST", "/api/sessions", { project: "br", rev: "2026.05.1", configId: startId });
    expect(s.status, JSON.stringify(s.body)).toBe(201);
    const term = await TerminalClient.connect(base, s.body.wsPath, { cols: 100, rows: 30 });
    try {
      // The version comes from the tree's Makefile, as in a local `make menuconfig`.
      await term.untilText("Buildroot 2026.05.1 Configuration", 60_000);
      await term.untilText("Target packages", 20_000);
      term.control({ type: "save" });
      const saved = await term.untilMessage("saved");
      const text = await configText((saved as unknown as { configId: string }).configId);
      expect(text).toContain("BR2_x86_64=y\n");
      // Nothing changed since the save: mconf leaves at once, as the tree's own does.
      term.type("\x1b\x1b");
      await term.untilMessage("exit");
    } finally {
      term.close();
    }
  }, 120_000);

  it("a Config.in that sources a file missing from the kconfig tree fails the sync naming the path", async () => {
    const broken = createFakeBuildrootRepo(path.join(tmpDir(), "broken"));
    fs.appendFileSync(path.join(broken.dir, "package/Config.in"), 'source "package/nosuch/Config.in"\n');
    execFileSync("git", ["commit", "-qam", "source a package that is not there"], { cwd: broken.dir, env: procEnv({ ...process.env, GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@kbs.invalid", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@kbs.invalid" }) });
    const env = { ...buildTestEnv, KBS_DATA_DIR: path.join(tmpDir(), "data") };
    await expect(addFixtureProject(env, "broken", broken.dir, "buildroot")).rejects.toThrow(
      /broken 2026\.05\.1-1-g[0-9a-f]+: package\/Config\.in:\d+ sources package\/nosuch\/Config\.in — not in the kconfig tree/,
    );
  }, 120_000);

  it("builds from the download cache after a fetch stage of its own; a missing source fails at step fetch naming the files", async () => {
    const dl = path.join(dataDir, "dl");
    const first = await api<BuildView>(base, "POST", "/api/builds", { project: "br", rev: "2026.05.1", configId: startId });
    expect(first.status, JSON.stringify(first.body)).toBe(201);
    const failed = await waitBuild(base, first.body.id, undefined, 300_000);
    expect(failed).toMatchObject({ state: "failed", failedStep: "fetch" });
    expect(failed.errorSummary).toContain("2 source file(s) are not in the download cache: hello-1.0.tar.gz, greet-2.1.tar.gz");
    expect(failed.errorSummary).toContain(`put them in ${dl}/`);
    expect(failed.errorSummary).toContain("KBS_FETCH_NETWORK=1");

    // The operator provides the sources; the build reads them with no network, and the tree's .hash files check them.
    for (const name of Object.keys(repo.sources)) fs.copyFileSync(path.join(repo.site, name), path.join(dl, name));
    const text = (await configText(startId)).replace('BR2_TARGET_GENERIC_HOSTNAME="buildroot"', 'BR2_TARGET_GENERIC_HOSTNAME="cached"');
    const cfg = (await api<{ id: string }>(base, "POST", "/api/configs", { project: "br", rev: "2026.05.1", text })).body.id;
    const second = await api<BuildView>(base, "POST", "/api/builds", { project: "br", rev: "2026.05.1", configId: cfg });
    const done = await waitBuild(base, second.body.id, undefined, 300_000);
    const log = await (await fetch(`${base}/api/builds/${done.id}/log?follow=0`)).text();
    expect(done.state, log).toBe("succeeded");
    expect(log).toContain("step fetch: the sources this config needs, from the download cache");
    expect(done.artifacts.map((a) => a.name)).toContain("rootfs.tar");
    const rootfs = Buffer.from(await (await fetch(`${base}/api/builds/${done.id}/artifacts/rootfs.tar`)).arrayBuffer());
    const listing = execFileSync("tar", ["-tf", "-"], { input: rootfs }).toString();
    expect(listing).toContain("./usr/share/hello-1.0/README");
    expect(listing).toContain("./usr/share/greet-2.1/README");

    // A source that does not match the tree's hash fails the fetch step, saying the cache did not check out.
    fs.writeFileSync(path.join(dl, "greet-2.1.tar.gz"), "tampered");
    const cfg3 = (await api<{ id: string }>(base, "POST", "/api/configs", { project: "br", rev: "2026.05.1", text: text.replace('"cached"', '"tampered"') })).body.id;
    const third = await waitBuild(base, (await api<BuildView>(base, "POST", "/api/builds", { project: "br", rev: "2026.05.1", configId: cfg3 })).body.id, undefined, 300_000);
    expect(third).toMatchObject({ state: "failed", failedStep: "fetch" });
    expect(third.errorSummary).toMatch(/did not check out/);
  }, 600_000);
  it("with KBS_FETCH_NETWORK=1 the fetch stage, and only it, downloads the missing sources into the cache; the build and a later build read it offline", async () => {
    // The "upstream site": the fixture's sources over HTTP on 127.0.0.1, counting what is asked for.
    const asked: string[] = [];
    const site = http.createServer((req, res) => {
      const name = path.basename(req.url ?? "");
      asked.push(name);
      const file = path.join(repo.site, name);
      if (!Object.hasOwn(repo.sources, name) || !fs.existsSync(file)) return void res.writeHead(404).end();
      res.writeHead(200, { "content-type": "application/octet-stream" }).end(fs.readFileSync(file));
    });
    await new Promise<void>((r) => site.listen(0, "127.0.0.1", r));
    const siteUrl = `http://127.0.0.1:${(site.address() as AddressInfo).port}`;
    const netData = path.join(tmpDir(), "data");
    const env = { ...buildTestEnv, KBS_DATA_DIR: netData, PORT: "0", KBS_BUILD_TIMEOUT_SEC: "300", KBS_FETCH_NETWORK: "1" };
    await addFixtureProject(env, "br", repo.dir, "buildroot");
    const net = await startServer(loadSettings({ ...env, KBS_POOL_SIZE: "0" }), { withNext: false });
    try {
      const start = await api<{ id: string }>(net.url, "POST", "/api/configs/start", { project: "br", rev: "2026.05.1", start: "qemu_x86_64_defconfig" });
      const text = (await api<string>(net.url, "GET", `/api/configs/${start.body.id}/raw`)).body.replace('BR2_PRIMARY_SITE=""', `BR2_PRIMARY_SITE="${siteUrl}"`);
      expect(text).toContain(siteUrl);
      const build = async (hostname: string) => {
        const cfg = (await api<{ id: string }>(net.url, "POST", "/api/configs", { project: "br", rev: "2026.05.1", text: text.replace('BR2_TARGET_GENERIC_HOSTNAME="buildroot"', `BR2_TARGET_GENERIC_HOSTNAME="${hostname}"`) })).body.id;
        const requested = await api<BuildView>(net.url, "POST", "/api/builds", { project: "br", rev: "2026.05.1", configId: cfg });
        expect(requested.status, JSON.stringify(requested.body)).toBe(201);
        const done = await waitBuild(net.url, requested.body.id, undefined, 300_000);
        const log = await (await fetch(`${net.url}/api/builds/${done.id}/log?follow=0`)).text();
        expect(done.state, log).toBe("succeeded");
        return { done, log };
      };
      const first = await build("fetched");
      expect(first.log).toContain("missing ones downloaded");
      expect(asked.sort()).toEqual(["greet-2.1.tar.gz", "hello-1.0.tar.gz"]);
      // Downloaded where the tree's own fetch put them (Buildroot: dl/<package>/), as kbs's files.
      for (const [name, { sha256 }] of Object.entries(repo.sources)) {
        const file = path.join(netData, "dl", name.split("-")[0]!, name);
        expect(execFileSync("sha256sum", [file]).toString().split(" ")[0]).toBe(sha256);
      }
      const rootfs = Buffer.from(await (await fetch(`${net.url}/api/builds/${first.done.id}/artifacts/rootfs.tar`)).arrayBuffer());
      expect(execFileSync("tar", ["-tf", "-"], { input: rootfs }).toString()).toContain("./usr/share/greet-2.1/README");

      // Another build of the same sources asks the site for nothing: the cache has them.
      await build("again");
      expect(asked).toHaveLength(2);
    } finally {
      await net.close();
      await new Promise((r) => site.close(r));
    }
  }, 600_000);
});

describe("buildroot recipe: external trees (BR2_EXTERNAL)", () => {
  let server: RunningServer;
  let env: Record<string, string>;

  beforeAll(async () => {
    const dir = tmpDir();
    const repo = createFakeBuildrootRepo(path.join(dir, "br"));
    const ext = createFakeBr2External(path.join(dir, "demo-external"));
    env = { ...buildTestEnv, KBS_DATA_DIR: path.join(dir, "data"), PORT: "0", KBS_LOG_LEVEL: "error" };
    // A tree with no external.desc is refused when added, and nothing is registered.
    const refused = kbsCli(env, ["project", "add", "br", "--recipe", "buildroot", "--url", repo.dir, "--external", `demo=${repo.dir}@2026.05.1`]);
    expect(refused.code, refused.out).not.toBe(0);
    expect(refused.out).toContain(`External tree 'demo': ${repo.dir} at 2026.05.1 has no external.desc at its root, so it is not a Buildroot external tree.`);
    expect(refused.out).not.toMatch(/\n\s+at /);
    expect(kbsCli(env, ["project", "list"]).out).not.toMatch(/^br /m);
    const bad = kbsCli(env, ["project", "add", "br", "--recipe", "buildroot", "--url", repo.dir, "--external", `demo=${ext.dir}@nosuch`]);
    expect(bad.out).toContain(`has no tag, branch or commit 'nosuch'`);

    const added = kbsCli(env, ["project", "add", "br", "--recipe", "buildroot", "--url", repo.dir, "--external", `demo=${ext.dir}@v1`]);
    expect(added.code, added.out).toBe(0);
    expect(added.out).toContain(`external tree demo: ${ext.dir} at v1 (${ext.commit.slice(0, 12)})`);
    const synced = kbsCli(env, ["sync", "br"]);
    expect(synced.code, synced.out).toBe(0);
    server = await startServer(loadSettings({ ...env, KBS_POOL_SIZE: "1" }), { withNext: false });
  }, 300_000);

  afterAll(async () => {
    await server?.close();
  });

  it("menuconfig shows the external tree's options; a saved config keeps its BR2_ symbol in the minimal form", async () => {
    const s = await api<{ id: string; wsPath: string }>(server.url, "POST", "/api/sessions", { project: "br", rev: "2026.05.1" });
    expect(s.status, JSON.stringify(s.body)).toBe(201);
    const term = await TerminalClient.connect(server.url, s.body.wsPath, { cols: 100, rows: 30 });
    try {
      await term.untilText("Buildroot 2026.05.1 Configuration", 60_000);
      await term.untilText("External options (KBS_DEMO)", 20_000);
    } finally {
      term.close();
    }
    const saved = await api<{ id: string }>(server.url, "POST", "/api/configs", { project: "br", rev: "2026.05.1", text: "BR2_x86_64=y\nBR2_PACKAGE_KBS_DEMO=y\n" });
    expect(saved.status, JSON.stringify(saved.body)).toBe(201);
    const view = (await api<{ defconfig: string }>(server.url, "GET", `/api/configs/${saved.body.id}`)).body;
    expect(view.defconfig).toContain("BR2_PACKAGE_KBS_DEMO=y\n");

    // The build unpacks the external tree where the Kconfig runs had it, and its make reads it.
    const requested = await api<BuildView>(server.url, "POST", "/api/builds", { project: "br", rev: "2026.05.1", configId: saved.body.id });
    expect(requested.status, JSON.stringify(requested.body)).toBe(201);
    const done = await waitBuild(server.url, requested.body.id, undefined, 300_000);
    const log = await (await fetch(`${server.url}/api/builds/${done.id}/log?follow=0`)).text();
    expect(done.state, log).toBe("succeeded");
    const rootfs = Buffer.from(await (await fetch(`${server.url}/api/builds/${done.id}/artifacts/rootfs.tar`)).arrayBuffer());
    expect(execFileSync("tar", ["-xOf", "-", "./kbs-demo.desc"], { input: rootfs }).toString()).toContain("name: KBS_DEMO");
  }, 400_000);
});
