import fs from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fixtureGit } from "./fixtures/fake-firmware";
import type { BuildView } from "../server/builds/types";
import { startServer, type RunningServer } from "../server/main";
import { loadSettings } from "../server/core/settings";
import { createFakeFirmwareRepo } from "./fixtures/fake-firmware";
import { addProject, api, buildTestEnv, saveConfig, waitBuild } from "./helpers/builds";
import { newSession } from "./helpers/sessions";
import { TerminalClient } from "./helpers/terminal";
import { tmpDir } from "./helpers/tmp";
import { until } from "./helpers/sandbox";

/**
 * What a sandbox leaves behind is untrusted. Every attack here comes in through a config
 * anyone can save for a project whose Makefile includes `.config` (the demo tree's, like
 * Klipper's): a string value with `$(shell ...)` runs as make code in the build sandbox.
 * Each test runs it against the real server with real bwrap sandboxes and checks what the
 * host then does with what the sandbox left.
 */

/** A config for the demo tree whose HOST_OPTIMIZE string runs `cmd` whenever make reads the config. */
const attack = (cmd: string) => `CONFIG_ARCH_HOST=y\nCONFIG_HOST_OPTIMIZE="-O2 $(shell ${cmd.replace(/\\/g, "\\\\").replace(/"/g, '\\"')})"\n`;

describe("a hostile build or session cannot reach past its sandbox through what it leaves", () => {
  let server: RunningServer;
  let base: string;
  let dataDir: string;
  let work: string;
  let acknowledged: string;
  const env = () => ({ ...buildTestEnv, KBS_DATA_DIR: dataDir, PORT: "0", KBS_STAGING_DIR: path.join(work, "staging") });

  beforeAll(async () => {
    work = tmpDir("kbs-hostile-");
    dataDir = path.join(work, "data");
    const repo = createFakeFirmwareRepo(path.join(work, "fw"));
    await addProject(dataDir, "fw", repo.dir);
    // The same tree as a second project: caches must not cross between projects.
    await addProject(dataDir, "fw2", repo.dir);
    // A tree with its own menuconfig.py that replaces its config with a link to a host file.
    const own = createFakeFirmwareRepo(path.join(work, "own"), { ownKconfiglib: true });
    fs.writeFileSync(
      path.join(own.dir, "lib/kconfiglib/menuconfig.py"),
      [
        "import os, sys, time",
        'out = os.environ["KCONFIG_CONFIG"]',
        'sys.stdout.write("\\x1b[?1049hhostile menuconfig\\r\\n")',
        "sys.stdout.flush()",
        'os.symlink("/etc/shadow", out + ".tmp")',
        'os.replace(out + ".tmp", out)',
        "time.sleep(600)",
        "",
      ].join("\n"),
    );
    fixtureGit(own.dir, ["commit", "-qam", "hostile menuconfig"]);
    fixtureGit(own.dir, ["tag", "-f", "hostile"]);
    await addProject(dataDir, "own", own.dir);
    server = await startServer(loadSettings({ ...env(), KBS_POOL_SIZE: "1" }), { withNext: false });
    base = server.url;
    acknowledged = await saveConfig(base, "fw", "v0.3.0", "CONFIG_ARCH_HOST=y\nCONFIG_HOST_OPTIMIZE=\"-O1\"\n");
  }, 240_000);

  afterAll(async () => {
    await server?.close();
  });

  async function build(project: string, text: string): Promise<BuildView> {
    const configId = await saveConfig(base, project, "v0.3.0", text);
    const r = await api<BuildView>(base, "POST", "/api/builds", { project, rev: "v0.3.0", configId });
    expect([200, 201]).toContain(r.status);
    return waitBuild(base, r.body.id);
  }

  it.each([
    ["a host file", "/etc/shadow"],
    ["the server's environment", "/proc/self/environ"],
    ["a device", "/dev/zero"],
  ])("refuses an artifact that is a link to %s, and serves nothing of it", async (_what, target) => {
    const b = await build("fw", attack(`mkdir -p /kbs/out/artifacts; ln -sf ${target} /kbs/out/artifacts/loot`));
    expect(b.state).toBe("failed");
    expect(b.failedStep).toBe("outputs");
    expect(b.errorSummary).toMatch(/refused the output 'artifacts\/loot': it is a symbolic link/);
    expect((await fetch(`${base}/api/builds/${b.id}/artifacts/loot`)).status).toBe(404);
  });

  it("refuses a link into the data dir; the sandbox's mount table shows its inputs under the staging root and no writable data-dir path", async () => {
    const db = path.join(dataDir, "kbs.sqlite");
    const b = await build("fw", attack(`mkdir -p /kbs/out/artifacts; cat /proc/self/mountinfo > /kbs/out/artifacts/mounts.txt; ln -sf ${db} /kbs/out/artifacts/kbs.sqlite`));
    expect(b.state).toBe("failed");
    expect(b.errorSummary).toMatch(/'artifacts\/kbs.sqlite': it is a symbolic link/);
    // The same build, without the link: /kbs/in comes from the neutral staging root; what comes from the data dir
    // (the git objects the work tree borrows, the commit's ready tree, a compiler cache) is read-only.
    const seen = await build("fw2", attack("mkdir -p /kbs/out/artifacts; cat /proc/self/mountinfo > /kbs/out/artifacts/mounts.txt"));
    expect(seen.state).toBe("succeeded");
    const mounts = (await (await fetch(`${base}/api/builds/${seen.id}/artifacts/mounts.txt`)).text()).split("\n").map((l) => l.split(" "));
    expect(mounts.find((f) => f[4] === "/kbs/in")?.[3]).toContain(path.join(work, "staging"));
    const fromData = mounts.filter((f) => f[3]?.startsWith(dataDir));
    expect(fromData.map((f) => f[4])).toEqual(["/kbs/objects", "/kbs/tree"]);
    for (const f of fromData) expect(f[5]!.split(",")).toContain("ro");
  });

  it("refuses a FIFO where the host expects a file, and the server keeps answering throughout", async () => {
    const latencies: number[] = [];
    let polling = true;
    const poll = (async () => {
      while (polling) {
        const t0 = Date.now();
        const r = await fetch(`${base}/healthz`);
        expect(r.status).toBe(200);
        latencies.push(Date.now() - t0);
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    // toolchain.txt becomes a FIFO once the build script has written it (the build step's make reads the config again).
    const b = await build("fw", attack("mkdir -p /kbs/out/artifacts; mkfifo /kbs/out/artifacts/loot; [ -f /kbs/out/toolchain.txt ] && rm /kbs/out/toolchain.txt && mkfifo /kbs/out/toolchain.txt"));
    polling = false;
    await poll;
    expect(b.state).toBe("failed");
    expect(b.errorSummary).toMatch(/it is a FIFO/);
    expect(b.failedStep).toBe("outputs");
    expect(latencies.length).toBeGreaterThan(0);
    expect(Math.max(...latencies)).toBeLessThan(1000);
  });

  it("keeps a build's own files its own: an output named manifest.json is refused", async () => {
    const b = await build("fw", attack(`mkdir -p /kbs/out/artifacts; echo '{"forged":true}' > /kbs/out/artifacts/manifest.json`));
    expect(b.state).toBe("failed");
    expect(b.errorSummary).toMatch(/output named 'manifest.json'.*a name kbs keeps/);
  });

  it("counts what a build writes to its outputs against its disk limit (64 MB here)", async () => {
    const before = du(dataDir);
    const b = await build("fw", attack("dd if=/dev/zero of=/kbs/out/big bs=1M count=500 2>/dev/null"));
    expect(b.state).toBe("failed");
    expect(b.errorSummary).toMatch(/ran out of disk space|No space left/);
    expect(du(dataDir) - before).toBeLessThan(32 * 2 ** 20);
  });

  it("gives no build a compiler cache another project's build wrote, nor a ccache.conf of its own", async () => {
    const plant = attack(
      [
        "echo prefix_command=/work/pre.sh > /ccache/ccache.conf",
        "echo planted > /ccache/planted",
        // The build's own cache (handed back as a tar after its last step): kbs takes only entry-shaped files from it.
        "mkdir -p /work/.kbs-ccache/0/0",
        "echo prefix_command=/work/pre.sh > /work/.kbs-ccache/ccache.conf",
        "echo fake > /work/.kbs-ccache/0/0/aaaaaaaaaaaaaaaaaaaaaaaaaaR",
      ].join("; "),
    );
    const a = await build("fw", plant);
    expect(a.state).toBe("succeeded");
    // Only ccache-shaped entries are merged (after the build is recorded), into fw's own scope; no config file anywhere.
    const merged = () => walk(path.join(dataDir, "ccache")).filter((f) => f.endsWith("/00/aaaaaaaaaaaaaaaaaaaaaaaaaa"));
    await until(() => merged().length > 0, "the build's ccache entries merged");
    const files = walk(path.join(dataDir, "ccache"));
    expect(files.filter((f) => /ccache\.conf$|planted$/.test(f))).toEqual([]);
    const fake = files.filter((f) => f.endsWith("/00/aaaaaaaaaaaaaaaaaaaaaaaaaa"));
    expect(fake).toHaveLength(1);
    // fw2 (another project, the same client) builds from a cache that does not hold it.
    const b = await build("fw2", "CONFIG_ARCH_HOST=y\n");
    expect(b.state).toBe("succeeded");
    const scopes = fs.readdirSync(path.dirname(path.dirname(fake[0]!)));
    expect(scopes.length).toBeGreaterThan(0);
    const log = await (await fetch(`${base}/api/builds/${b.id}/log`)).text();
    expect(log).not.toMatch(/pre\.sh/);
    for (const f of walk(path.join(dataDir, "ccache"))) expect(fs.lstatSync(f).mode & 0o022).toBe(0);
  });

  it("refuses a session's config that its menuconfig replaced with a link to a host file", async () => {
    const s = await newSession(base, { project: "own", rev: "hostile" });
    const c = await TerminalClient.connect(base, s.wsPath);
    try {
      await c.untilText("hostile menuconfig", 30_000);
      const refused = await c.until("the config_refused error", () => c.messages.find((m) => m.type === "error" && m.code === "config_refused"), 30_000);
      expect(refused).toMatchObject({ message: expect.stringMatching(/symbolic link/) });
      c.control({ type: "save" });
      const saved = await c.untilMessage("saved", 0, 30_000);
      const text = await (await fetch(`${base}/api/configs/${saved.configId}/raw`)).text();
      expect(text).not.toMatch(/^root:/m);
      expect(text).toMatch(/^CONFIG_/m);
    } finally {
      c.close();
    }
  });

  it("leaves the database whole and an acknowledged config stored across a restart", async () => {
    await server.close();
    const db = new Database(path.join(dataDir, "kbs.sqlite"), { readonly: true });
    try {
      expect(db.pragma("integrity_check", { simple: true })).toBe("ok");
    } finally {
      db.close();
    }
    server = await startServer(loadSettings(env()), { withNext: false });
    base = server.url;
    expect((await api(base, "GET", `/api/configs/${acknowledged}`)).status).toBe(200);
  });
});

function walk(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { recursive: true, withFileTypes: true }).filter((d) => !d.isDirectory()).map((d) => path.join(d.parentPath, d.name));
}

function du(dir: string): number {
  return walk(dir).reduce((n, f) => n + (fs.lstatSync(f).isFile() ? fs.statSync(f).size : 0), 0);
}
