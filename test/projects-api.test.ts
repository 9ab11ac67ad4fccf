import { spawn, spawnSync } from "node:child_process";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { z } from "zod";
import { Build, BuildSummary, ConfigDiff, CreatedConfig, CreatedSession, EndedSession, FlashGuidance, ProjectSummary, Revision, SessionDetails, StoredConfig, WorkerList } from "../contracts/api";
import { finishedBuildStates } from "../contracts/build-states";
import { SymbolSearchResult } from "../contracts/symbols";
import { apiPath } from "../contracts/urls";
import { createFakeFirmwareRepo, generateHistoryRepo, type FakeFirmwareRepo } from "./fixtures/fake-firmware";
import { openProjectParts } from "./helpers/projects";
import { kbsBin, startKbs, type KbsProcess } from "./helpers/server";
import { tmpDir } from "./helpers/tmp";

const baseEnv = { KBS_UPSTREAMS: "0", KBS_POOL_SIZE: "0", KBS_LOG_LEVEL: "warn" };

function kbs(dataDir: string, args: string[]) {
  return spawnSync(process.execPath, [kbsBin, ...args], { encoding: "utf8", env: { ...process.env, ...baseEnv, KBS_DATA_DIR: dataDir }, timeout: 120_000 });
}

/** Start `kbs sync` and resolve once its output matches `when` (then the caller kills it, or waits). */
function startSync(dataDir: string, id: string) {
  const child = spawn(process.execPath, [kbsBin, "sync", id], { env: { ...process.env, ...baseEnv, KBS_DATA_DIR: dataDir }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const when = (re: RegExp) =>
    new Promise<void>((resolve, reject) => {
      const check = () => (re.test(out) ? resolve() : undefined);
      child.stdout.on("data", check);
      child.stderr.on("data", check);
      void exited.then(() => (re.test(out) ? resolve() : reject(new Error(`sync ended before ${re}:\n${out}`))));
    });
  return { child, exited, when, output: () => out };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- API bodies are checked field by field below
type Json = any;

async function getJson(url: string): Promise<{ status: number; body: Json }> {
  const r = await fetch(url);
  return { status: r.status, body: await r.json() };
}

describe("projects API and CLI", () => {
  let server: KbsProcess;
  let dataDir: string;
  let fw: FakeFirmwareRepo;

  beforeAll(async () => {
    dataDir = tmpDir();
    fw = createFakeFirmwareRepo(path.join(tmpDir(), "fw"));
    server = await startKbs({ dataDir, withNext: false, env: { KBS_POOL_SIZE: "0" } });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("lists the built-in demo, imported before the server said it was listening", async () => {
    const { status, body } = await getJson(`${server.url}/api/projects`);
    expect(status).toBe(200);
    const demo = body.find((p: { id: string }) => p.id === "demo");
    expect(demo).toMatchObject({ id: "demo", name: "kbs demo firmware", recipe: "kconfiglib", revisions: 1, sync: { state: "ok" } });
    const revs = await getJson(`${server.url}/api/projects/demo/revisions`);
    expect(revs.body).toHaveLength(1);
    expect(revs.body[0]).toMatchObject({ describe: "v1", refs: ["tag:v1", "branch:main"], sameKconfigCount: 0 });
    expect(revs.body[0].kconfigHash).toMatch(/^[0-9a-f]{64}$/);
  });

  it("answers in the shapes contracts/api.ts defines, no field more or less", async () => {
    /** The body parsed with the view's schema (which drops unknown fields) is the body itself. */
    const view = async <T extends z.ZodType>(schema: T, path: string, init?: { method: string; body?: unknown }) => {
      const r = await fetch(server.url + path, init && { method: init.method, headers: { "Content-Type": "application/json" }, body: JSON.stringify(init.body ?? {}) });
      expect(r.ok, `${init?.method ?? "GET"} ${path}: ${r.status}`).toBe(true);
      const body: unknown = await r.json();
      expect(schema.parse(body), path).toEqual(body);
      return schema.parse(body) as z.infer<T>;
    };
    const projects = await view(ProjectSummary.array(), apiPath.projects());
    expect(projects.map((p) => p.id)).toContain("demo");
    await view(ProjectSummary, apiPath.project("demo"));
    const [rev] = await view(Revision.array(), apiPath.revisions("demo", { limit: 1 }));
    await view(Revision, apiPath.revision("demo", rev!.sha));
    const a = await view(CreatedConfig, apiPath.configs(), { method: "POST", body: { project: "demo", rev: "v1", text: "CONFIG_ENABLE_DEBUG=y\n" } });
    const b = await view(CreatedConfig, apiPath.configs(), { method: "POST", body: { project: "demo", rev: "v1", text: "" } });
    await view(StoredConfig, apiPath.config(a.id));
    await view(ConfigDiff, apiPath.configDiff(b.id, a.id));
    const requested = await view(Build, apiPath.builds(), { method: "POST", body: { project: "demo", rev: "v1", configId: a.id } });
    let build = requested;
    for (const end = Date.now() + 60_000; !finishedBuildStates.includes(build.state) && Date.now() < end; ) {
      await new Promise((r) => setTimeout(r, 200));
      build = await view(Build, apiPath.build(requested.id));
    }
    expect(build.state).toBe("succeeded");
    await view(BuildSummary.array(), apiPath.builds({ config: a.id }));
    await view(FlashGuidance, apiPath.buildFlash(build.id));
    await view(SymbolSearchResult, apiPath.symbols("demo", "v1", { q: "DEBUG" }));
    const session = await view(CreatedSession, apiPath.sessions(), { method: "POST", body: { project: "demo", rev: "v1" } });
    await view(SessionDetails, apiPath.session(session.id));
    await view(EndedSession, apiPath.session(session.id), { method: "DELETE" });
    await view(WorkerList, apiPath.workers());
  });

  it("adds a project with kbs project add, syncs it with kbs sync, and serves its revisions", async () => {
    const add = kbs(dataDir, ["project", "add", "fw", "--recipe", "kconfiglib", "--url", fw.dir]);
    expect(add.stderr).toBe("");
    expect(add.stdout).toContain("now run: kbs sync fw");
    const sync = kbs(dataDir, ["sync", "fw"]);
    expect(sync.status).toBe(0);
    expect(sync.stdout).toMatch(/fw: index 6\/6/);
    expect(sync.stdout).toMatch(/fw: ok, 6 new of 6 revisions/);
    const list = kbs(dataDir, ["revisions", "fw", "--json", "--limit", "3"]);
    expect(JSON.parse(list.stdout)).toHaveLength(3);
    const table = kbs(dataDir, ["revisions", "fw"]).stdout.trim().split("\n");
    expect(table).toHaveLength(7);
    expect(table[1]).toMatch(/^v0\.3\.0 +c3|^v0\.3\.0 /);

    const { body } = await getJson(`${server.url}/api/projects/fw/revisions?q=v0.2`);
    expect(body.map((r: { describe: string }) => r.describe)).toEqual(["v0.2.0", "v0.2.0-1-g" + fw.commits.c4!.slice(0, 7)]);
    const one = await getJson(`${server.url}/api/projects/fw/revisions/${encodeURIComponent("branch:feature")}`);
    expect(one.body).toMatchObject({ sha: fw.commits.f1, describe: "v0.3.0-rc1" });
    const unknown = await getJson(`${server.url}/api/projects/fw/revisions/v0.3.1`);
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe("unknown_revision");
    expect(unknown.body.error.details.closeMatches.map((m: { name: string }) => m.name)).toContain("v0.3.0");
    const bad = await getJson(`${server.url}/api/projects/fw/revisions/${encodeURIComponent("a..b")}`);
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe("bad_ref");
    const noProject = await getJson(`${server.url}/api/projects/nope/revisions`);
    expect(noProject.status).toBe(404);
    expect(noProject.body.error).toMatchObject({ code: "unknown_project", message: expect.stringContaining("demo") });
    const badLimit = await getJson(`${server.url}/api/projects/fw/revisions?limit=0`);
    expect(badLimit.status).toBe(400);
  });

  it("POST /api/projects/:id/sync runs in the background and the state shows it", async () => {
    const r = await fetch(`${server.url}/api/projects/fw/sync`, { method: "POST" });
    expect(r.status).toBe(202);
    let state = "";
    for (let i = 0; i < 100 && state !== "ok"; i++) {
      state = (await getJson(`${server.url}/api/projects/fw`)).body.sync.state;
      if (state !== "ok") await new Promise((res) => setTimeout(res, 100));
    }
    expect(state).toBe("ok");
  });

  it("adds by file:// URL, and imports a tarball at add time (a bad one registers nothing)", () => {
    const byUrl = kbs(dataDir, ["project", "add", "fwurl", "--recipe", "kconfiglib", "--url", `file://${fw.dir}`]);
    expect(byUrl.status, byUrl.stderr).toBe(0);
    expect(kbs(dataDir, ["sync", "fwurl"]).stdout).toMatch(/fwurl: ok, 6 new of 6 revisions/);
    const dir = tmpDir();
    const good = path.join(dir, "fw.tar.gz");
    spawnSync("tar", ["-czf", good, "--exclude=.git", "-C", path.dirname(fw.dir), path.basename(fw.dir)]);
    const tar = kbs(dataDir, ["project", "add", "fwtar", "--recipe", "kconfiglib", "--tarball", good, "--rev-name", "v9"]);
    expect(tar.status, tar.stderr).toBe(0);
    expect(tar.stdout).toMatch(/added fwtar \(kconfiglib\), 1 revision\(s\) indexed/);
    const junk = path.join(dir, "junk.tar.gz");
    spawnSync("sh", ["-c", `echo not a tarball | gzip > ${junk}`]);
    const bad = kbs(dataDir, ["project", "add", "fwjunk", "--recipe", "kconfiglib", "--tarball", junk, "--rev-name", "v1"]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/junk.tar.gz is not a source tarball: not a tar archive/);
    expect(kbs(dataDir, ["project", "list"]).stdout).not.toMatch(/^fwjunk /m);
    expect(kbs(dataDir, ["project", "add", "fwjunk", "--recipe", "kconfiglib", "--tarball", junk]).stderr).toMatch(/--tarball needs --rev-name/);
  });

  it("refuses to add a URL that is not a git repository, registering nothing", () => {
    const r = kbs(dataDir, ["project", "add", "nr", "--recipe", "kconfiglib", "--url", tmpDir()]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/not a git repository we can read: .*does not appear to be a git repository/);
    expect(kbs(dataDir, ["project", "list"]).stdout).not.toMatch(/^nr /m);
    const unknown = kbs(dataDir, ["sync", "nope"]);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toMatch(/No project 'nope'. Known projects: demo/);
  });
});

describe("pre-registered upstreams", () => {
  it("registers klipper and kalico by URL and syncs them in the background without delaying start-up", async () => {
    const server = await startKbs({ dataDir: tmpDir(), withNext: false, env: { KBS_UPSTREAMS: "1", KBS_BUILTINS: "0", KBS_POOL_SIZE: "0" } });
    try {
      const { body } = await getJson(`${server.url}/api/projects`);
      // The recipes' `preregister` fields, in recipe-file order.
      expect(body.map((p: { id: string; upstream: { url: string } }) => [p.id, p.upstream.url])).toEqual([
        ["kalico", "https://github.com/KalicoCrew/kalico"],
        ["klipper", "https://github.com/Klipper3d/klipper"],
      ]);
      // Offline (as here) the sync fails quickly and says why; online it may still be fetching.
      let sync = { state: "never", message: "" };
      for (let i = 0; i < 300 && (sync.state === "never" || sync.state === "syncing"); i++) {
        await new Promise((r) => setTimeout(r, 100));
        sync = (await getJson(`${server.url}/api/projects/klipper`)).body.sync;
      }
      if (sync.state === "failed") expect(sync.message).toMatch(/^upstream unreachable, last tried \d{4}-\d\d-\d\dT[\d:.]+Z: .+/);
      else expect(["syncing", "ok"]).toContain(sync.state);
    } finally {
      await server.stop();
    }
  });
});

describe("interrupted and concurrent syncs", () => {
  let dataDir: string;
  let repo: string;

  /** A fresh data dir with the generated history added as project 'big'. */
  const dataDirWithBig = () => {
    const d = tmpDir();
    const add = kbs(d, ["project", "add", "big", "--recipe", "kconfiglib", "--url", repo]);
    expect(add.status, add.stderr).toBe(0);
    return d;
  };
  /** `kbs sync big` indexes the whole history. */
  const expectFullSync = (d: string) => {
    const r = kbs(d, ["sync", "big"]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/big: ok, 4000 new of 4000 revisions/);
  };

  beforeAll(() => {
    repo = generateHistoryRepo(path.join(tmpDir(), "big.git"), { commits: 4000, kconfigChanges: 60, tagEvery: 250 }).dir;
    dataDir = dataDirWithBig();
  });

  it("kill -9 mid-index leaves the db consistent and the next sync completes", async () => {
    const first = startSync(dataDir, "big");
    await first.when(/big: index/);
    first.child.kill("SIGKILL");
    await first.exited;
    const parts = openProjectParts(dataDir);
    try {
      const p = parts.projects.require("big");
      expect(p.sync.state).toBe("failed");
      expect(p.sync.message).toMatch(/interrupted/);
      expect([0, 4000]).toContain(parts.revdb.count("big"));
    } finally {
      parts.db.close();
    }
    const again = kbs(dataDir, ["sync", "big"]);
    expect(again.status, again.stderr).toBe(0);
    const parts2 = openProjectParts(dataDir);
    try {
      expect(parts2.revdb.count("big")).toBe(4000);
      expect(parts2.projects.require("big").sync.state).toBe("ok");
      const head = parts2.revdb.resolve("big", "master");
      expect(head.describe).toMatch(/^v1\.15(-\d+-g[0-9a-f]+)?$/);
      expect(parts2.bundles.path(head.kconfigHash)).toBeTruthy();
      expect(parts2.revdb.hashes("big")).toHaveLength(61);
    } finally {
      parts2.db.close();
    }
  });

  it("kill -9 mid-fetch leaves nothing half-written and the next sync completes", async () => {
    const d = dataDirWithBig();
    const first = startSync(d, "big");
    // kill as soon as the process has taken the lock (it is fetching or about to)
    for (let i = 0; i < 400; i++) {
      const parts = openProjectParts(d);
      const locked = parts.db.prepare("SELECT COUNT(*) FROM project_sync_locks").pluck().get();
      parts.db.close();
      if (locked) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    first.child.kill("SIGKILL");
    await first.exited;
    expectFullSync(d);
  });

  it("a sync while another live process holds the project's lock is refused with a clear message; a dead holder's lock is taken over", async () => {
    const d = dataDirWithBig();
    const holder = spawn("sleep", ["60"]);
    const parts = openProjectParts(d);
    parts.db.prepare("INSERT INTO project_sync_locks (project, pid, host, started_at) VALUES ('big', ?, ?, ?)").run(holder.pid, os.hostname(), Date.now());
    parts.db.close();
    const refused = kbs(d, ["sync", "big"]);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(new RegExp(`A sync of 'big' is already running \\(pid ${holder.pid}, started .*\\); wait for it to finish`));
    holder.kill("SIGKILL");
    await new Promise((r) => holder.once("exit", r));
    expectFullSync(d);
  });

  it("two syncs started at once never both write: one refused or one finding nothing new, and the index is whole", async () => {
    const d = dataDirWithBig();
    const a = startSync(d, "big");
    const b = startSync(d, "big");
    const codes = await Promise.all([a.exited, b.exited]);
    const outputs = [a.output(), b.output()];
    expect(codes.filter((c) => c === 0).length).toBeGreaterThanOrEqual(1);
    codes.forEach((c, i) => {
      if (c !== 0) expect(outputs[i]).toMatch(/A sync of 'big' is already running/);
    });
    expect(outputs.filter((o) => /big: ok, 4000 new of 4000/.test(o))).toHaveLength(1);
    const parts = openProjectParts(d);
    try {
      expect(parts.revdb.count("big")).toBe(4000);
      expect(parts.projects.require("big").sync.state).toBe("ok");
    } finally {
      parts.db.close();
    }
  });
});
