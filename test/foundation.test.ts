import { execFile, spawnSync } from "node:child_process";
import { promisify } from "node:util";
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import WebSocket from "ws";
import { processTree, survivors } from "../bench/proctree";
import { loadSettings } from "../server/core/settings";
import { kbsBin, startKbs } from "./helpers/server";
import { tmpDir } from "./helpers/tmp";

describe("settings", () => {
  it("uses the documented defaults", () => {
    const s = loadSettings({});
    expect(s.port).toBe(3000);
    expect(s.host).toBe("127.0.0.1");
    expect(s.dataDir).toBe(path.resolve("./data"));
    expect(s.redisUrl).toBeUndefined();
  });
  it("refuses bad values with a message naming the variable", () => {
    expect(() => loadSettings({ PORT: "eighty" })).toThrow(/PORT must be a number/);
    expect(() => loadSettings({ PORT: "70000" })).toThrow(/PORT must be at most 65535/);
    expect(() => loadSettings({ KBS_REDIS_URL: "localhost:6379" })).toThrow(/KBS_REDIS_URL must start with redis:\/\//);
  });
});

describe("kbs command", () => {
  it("kbs doctor passes on this set-up machine", async () => {
    // Async: doctor starts sandboxes, and a blocked test worker would miss vitest's heartbeats.
    const r = await promisify(execFile)(process.execPath, [kbsBin, "doctor"], { encoding: "utf8", env: { ...process.env, KBS_DATA_DIR: tmpDir() } });
    expect(r.stdout).toMatch(/ok\s+bubblewrap/);
    expect(r.stdout).toMatch(/ok\s+image menuconfig\s+usable with bwrap/);
  }, 180_000);
  it("kbs doctor fails and names the fix when bubblewrap is missing", () => {
    // A PATH with node and git but no bwrap.
    const bin = tmpDir();
    for (const tool of ["git", "make", "gcc"]) fs.symlinkSync(`/usr/bin/${tool}`, path.join(bin, tool));
    const r = spawnSync(process.execPath, [kbsBin, "doctor"], { encoding: "utf8", env: { ...process.env, PATH: bin, KBS_DATA_DIR: tmpDir() } });
    expect(r.status).not.toBe(0);
    expect(r.stdout).toMatch(/FAIL bubblewrap .*bwrap not found.*fix: apt-get install bubblewrap/);
  });
  it("an unknown verb is a usage error", () => {
    const r = spawnSync(process.execPath, [kbsBin, "frobnicate"], { encoding: "utf8" });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("unknown verb 'frobnicate'");
  });
  it("refuses to start on bad settings, naming the variable", () => {
    const r = spawnSync(process.execPath, [kbsBin, "serve", "--no-next"], { encoding: "utf8", env: { ...process.env, PORT: "nope" } });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("PORT must be a number");
  });
});

describe("server process", () => {
  it("answers /healthz, serves /metrics, 404s unknown API routes with an actionable error, and destroys unknown upgrades", async () => {
    const kbs = await startKbs({ dataDir: tmpDir(), withNext: false });
    try {
      expect(await (await fetch(kbs.url + "/healthz")).text()).toBe("ok\n");
      const metrics = await (await fetch(kbs.url + "/metrics")).text();
      expect(metrics).toContain("kbs_http_requests_total");
      const nf = await fetch(kbs.url + "/api/does-not-exist");
      expect(nf.status).toBe(404);
      expect((await nf.json()).error.code).toBe("not_found");
      const ws = await new Promise<string>((resolve) => {
        const sock = new WebSocket(kbs.url.replace("http", "ws") + "/not-a-ws-path");
        sock.on("error", () => resolve("error"));
        sock.on("open", () => resolve("open"));
      });
      expect(ws).toBe("error");
    } finally {
      expect(await kbs.stop()).toBe(0);
    }
  });
});

describe("graceful shutdown", () => {
  it("SIGTERM ends the server and every process tree it started (warm sandboxes included)", async () => {
    const kbs = await startKbs({ dataDir: tmpDir(), withNext: false, env: { KBS_POOL_SIZE: "2" } });
    // Wait for the pool to warm: the sandboxes are the server's descendants.
    let tree = processTree(kbs.child.pid!);
    for (let i = 0; i < 600 && !/kbs_sandbox_warm\{image="menuconfig"\} 2/.test(await (await fetch(kbs.url + "/metrics")).text()); i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    tree = processTree(kbs.child.pid!);
    expect(tree.some((p) => p.comm === "bwrap")).toBe(true);
    expect(await kbs.stop()).toBe(0);
    let left = survivors(tree);
    for (let i = 0; i < 50 && left.length; i++) {
      await new Promise((r) => setTimeout(r, 100));
      left = survivors(tree);
    }
    expect(left.map((p) => `${p.pid} ${p.comm}`)).toEqual([]);
  });
});
