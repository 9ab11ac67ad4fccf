import { spawnSync } from "node:child_process";
import http from "node:http";
import net from "node:net";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { createBuildFixtureRepo } from "./fixtures/builds";
import type { BuildView } from "../server/builds/types";
import { fixtureGit } from "./fixtures/fake-firmware";
import { createFakeFirmwareRepo } from "./fixtures/fake-firmware";
import { addProject, api, buildTestEnv, waitBuild } from "./helpers/builds";
import { kbsBin, startKbs, type KbsProcess } from "./helpers/server";
import { TITLE } from "./helpers/sessions";
import { TerminalClient } from "./helpers/terminal";
import { tmpDir } from "./helpers/tmp";

/**
 * The hostile HTTP suite (issue 12, the HTTP edge, names and configs that run code):
 * each attack from the issue against a real `kbs serve`, with the page build, real
 * sandboxes and a real menuconfig session.
 */

interface RawReply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A request with exactly these headers (fetch does not let a test set Host). */
function raw(base: string, opts: { method?: string; path: string; headers?: Record<string, string>; body?: string; localAddress?: string }): Promise<RawReply> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, method: opts.method ?? "GET", path: opts.path, headers: opts.headers, agent: false, localAddress: opts.localAddress }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end(opts.body);
  });
}

const errorOf = (r: RawReply) => (JSON.parse(r.body) as { error: { code: string; message: string } }).error;

/** Try a WebSocket upgrade; resolves with the refusal (status, body) or "open". */
function upgrade(base: string, wsPath: string, headers: Record<string, string>, origin?: string): Promise<{ status: number; body: string } | "open"> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(base.replace(/^http/, "ws") + wsPath, { headers, ...(origin ? { origin } : {}) });
    ws.once("open", () => {
      ws.close();
      resolve("open");
    });
    ws.once("unexpected-response", (_req, res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString("utf8")));
      res.on("end", () => resolve({ status: res.statusCode!, body }));
    });
    ws.once("error", (e) => reject(e));
  });
}

/** A raw socket that collects what the server sends and notices when it closes. */
function rawSocket(base: string, localAddress?: string): Promise<{ socket: net.Socket; received: () => string; closed: Promise<void> }> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port: Number(u.port), host: u.hostname, localAddress });
    let got = "";
    socket.on("data", (d) => (got += d.toString("utf8")));
    const closed = new Promise<void>((r) => socket.once("close", () => r()));
    socket.once("error", () => undefined);
    socket.once("connect", () => resolve({ socket, received: () => got, closed }));
    socket.once("error", reject);
  });
}

async function until<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("the HTTP edge of a serving kbs (pages, API, WebSockets)", () => {
  let server: KbsProcess;
  let base: string;
  let port: string;
  let demoRev: string;

  beforeAll(async () => {
    server = await startKbs({ dataDir: tmpDir(), env: { KBS_POOL_SIZE: "0", KBS_ALLOWED_HOSTS: "kbs.test" } });
    base = server.url;
    port = new URL(base).port;
    const revs = await api<Array<{ sha: string }>>(base, "GET", "/api/projects/demo/revisions?limit=1");
    demoRev = revs.body[0]!.sha;
  }, 120_000);
  afterAll(async () => {
    await server?.stop();
  });

  it("answers a foreign Host with 421 naming KBS_ALLOWED_HOSTS, on pages and the API; allowed names are served", async () => {
    for (const p of ["/", "/api/projects", "/healthz"]) {
      const r = await raw(base, { path: p, headers: { Host: `attacker.example:${port}` } });
      expect(r.status, p).toBe(421);
      expect(errorOf(r)).toMatchObject({ code: "misdirected", message: expect.stringContaining("KBS_ALLOWED_HOSTS=attacker.example") });
    }
    // HTTP/1.0 may leave Host out (Node refuses an HTTP/1.1 request without one by itself).
    const noHost = await rawSocket(base);
    noHost.socket.write("GET /api/projects HTTP/1.0\r\n\r\n");
    await noHost.closed;
    expect(noHost.received()).toMatch(/^HTTP\/1\.1 421[^]*no Host header/);
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, "localhost", `kbs.test:${port}`, "KBS.TEST."]) {
      expect((await raw(base, { path: "/api/projects", headers: { Host: host } })).status, host).toBe(200);
    }
    // The server's own names at another port are another server (KBS_ALLOWED_HOSTS names match any port).
    expect((await raw(base, { path: "/api/projects", headers: { Host: "localhost:1" } })).status).toBe(421);
  });

  it("refuses a WebSocket upgrade with a foreign Host, and a foreign Origin even when Host agrees with it", async () => {
    const s = await api<{ wsPath: string }>(base, "POST", "/api/sessions", { project: "demo", rev: demoRev });
    expect(s.status).toBe(201);
    // DNS rebinding: the page's own name in both Host and Origin.
    const rebound = await upgrade(base, s.body.wsPath, { Host: "attacker.example" }, "http://attacker.example");
    expect(rebound).toMatchObject({ status: 421 });
    expect(JSON.parse((rebound as { body: string }).body).error.code).toBe("misdirected");
    const onLog = await upgrade(base, "/ws/builds/00/log", { Host: `attacker.example:${port}` });
    expect(onLog).toMatchObject({ status: 421 });
    // An allowed Host does not make any Origin fine: Origin is checked against the allow-list.
    const crossSite = await upgrade(base, s.body.wsPath, { Host: `kbs.test:${port}` }, "http://attacker.example");
    expect(crossSite).toMatchObject({ status: 403 });
    expect((crossSite as { body: string }).body).toContain("KBS_ALLOWED_HOSTS");
    // The real thing still works: an allowed name and its own origin get menuconfig.
    expect(await upgrade(base, "/ws/sessions/unknown", { Host: `kbs.test:${port}` }, `http://kbs.test:${port}`)).toBe("open");
    const own = await TerminalClient.connect(base, s.body.wsPath, { origin: base });
    await own.untilText(TITLE, 60_000);
    own.close();
  }, 90_000);

  it("refuses a cross-site text/plain POST (415) and a cross-origin JSON POST (403); same-origin JSON and bodiless calls pass", async () => {
    const body = JSON.stringify({ project: "demo", rev: demoRev, text: 'CONFIG_BOARD_NAME="csrf"\n' });
    const plain = await raw(base, { method: "POST", path: "/api/configs", headers: { "Content-Type": "text/plain;charset=UTF-8" }, body });
    expect(plain.status).toBe(415);
    expect(errorOf(plain)).toMatchObject({ code: "unsupported_media_type", message: expect.stringContaining("application/json") });
    const form = await raw(base, { method: "POST", path: "/api/builds/00/cancel", headers: { "Content-Type": "application/x-www-form-urlencoded", Origin: base }, body: "" });
    expect(form.status).toBe(415);
    const crossOrigin = await raw(base, { method: "POST", path: "/api/configs", headers: { "Content-Type": "application/json", Origin: "http://attacker.example" }, body });
    expect(crossOrigin.status).toBe(403);
    expect(errorOf(crossOrigin)).toMatchObject({ code: "cross_origin", message: expect.stringContaining("KBS_ALLOWED_ORIGINS") });
    // Another web app on this machine (another port) is another origin.
    const otherPort = await raw(base, { method: "POST", path: "/api/builds/00/cancel", headers: { Origin: "http://127.0.0.1:1" } });
    expect(otherPort.status).toBe(403);
    const nullOrigin = await raw(base, { method: "DELETE", path: "/api/builds/00", headers: { Origin: "null" } });
    expect(nullOrigin.status).toBe(403);
    const same = await raw(base, { method: "POST", path: "/api/configs", headers: { "Content-Type": "application/json; charset=utf-8", Origin: base }, body });
    expect(same.status).toBe(201);
    // No body, no Content-Type (curl -X POST): the route answers (here: no such build).
    expect((await raw(base, { method: "POST", path: "/api/builds/00/cancel" })).status).toBe(404);
  });

  it("answers a malformed percent-encoding with 400 saying so, on the API, pages and session sockets", async () => {
    for (const p of ["/api/configs/%E0%A4%A", "/api/projects/%zz", "/c/%E0%A4%A", "/b/%"]) {
      const r = await raw(base, { path: p });
      expect(r.status, p).toBe(400);
      expect(errorOf(r)).toMatchObject({ code: "bad_path", message: expect.stringContaining("percent-encoding") });
    }
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
  });

  it("sends CSP, frame-ancestors, nosniff and Referrer-Policy on pages, and nosniff on API answers and downloads", async () => {
    const page = await raw(base, { path: "/" });
    expect(page.status).toBe(200);
    const csp = String(page.headers["content-security-policy"]);
    expect(csp).toMatch(/frame-ancestors 'none'/);
    expect(csp).toMatch(/script-src 'self' 'nonce-[A-Za-z0-9+/=]+'/);
    expect(csp).toContain(`connect-src 'self' ws://127.0.0.1:${port}`);
    expect(page.headers["x-content-type-options"]).toBe("nosniff");
    expect(page.headers["referrer-policy"]).toBe("same-origin");
    // Next put the nonce on its inline scripts, so the page still hydrates (e2e/home.spec.ts checks it in Chromium).
    const nonce = /'nonce-([^']+)'/.exec(csp)![1]!;
    expect(page.body).toContain(`nonce="${nonce}"`);
    const again = await raw(base, { path: "/" });
    expect(/'nonce-([^']+)'/.exec(String(again.headers["content-security-policy"]))![1]).not.toBe(nonce);

    const cfg = await api<{ id: string }>(base, "POST", "/api/configs", { project: "demo", rev: demoRev, text: 'CONFIG_BOARD_NAME="headers"\n' });
    for (const p of ["/api/projects", `/api/configs/${cfg.body.id}/raw`]) {
      const r = await raw(base, { path: p });
      expect(r.status, p).toBe(200);
      expect(r.headers["x-content-type-options"], p).toBe("nosniff");
      expect(String(r.headers["content-security-policy"]), p).toMatch(/default-src 'none'.*sandbox/);
    }
  });

  it("flags a config whose strings run make or shell code: API, /c/:id, the build record and reproduce.sh; it still builds", async () => {
    const text = 'CONFIG_ARCH_HOST=y\nCONFIG_HOST_OPTIMIZE="-O2 $(shell echo kbs-ran-$$((6*7)) >&2)"\nCONFIG_BOARD_NAME="`id`"\n';
    const cfg = await api<{ id: string }>(base, "POST", "/api/configs", { project: "demo", rev: demoRev, text });
    expect(cfg.status).toBe(201);
    const view = await api<{ runsCode: string[] }>(base, "GET", `/api/configs/${cfg.body.id}`);
    expect(view.body.runsCode).toEqual(["BOARD_NAME", "HOST_OPTIMIZE"]);
    const harmless = await api<{ id: string }>(base, "POST", "/api/configs", { project: "demo", rev: demoRev, text: 'CONFIG_BOARD_NAME="costs $5"\n' });
    expect((await api<{ runsCode: string[] }>(base, "GET", `/api/configs/${harmless.body.id}`)).body.runsCode).toEqual([]);

    const page = await raw(base, { path: `/c/${cfg.body.id}` });
    expect(page.status).toBe(200);
    expect(page.body).toContain("This config runs commands when built; read it first");
    expect(page.body).toMatch(/CONFIG_<!-- -->HOST_OPTIMIZE|CONFIG_HOST_OPTIMIZE/);
    expect((await raw(base, { path: `/c/${harmless.body.id}` })).body).not.toContain("runs commands when built");

    const requested = await api<BuildView>(base, "POST", "/api/builds", { project: "demo", rev: demoRev, configId: cfg.body.id });
    expect(requested.status).toBeLessThan(300);
    expect(requested.body.runsCode).toEqual(["BOARD_NAME", "HOST_OPTIMIZE"]);
    const done = await waitBuild(base, requested.body.id, undefined, 180_000);
    expect(done.state, done.errorSummary ?? "").toBe("succeeded");
    const log = await (await fetch(`${base}/api/builds/${done.id}/log?follow=0`)).text();
    expect(log).toContain("kbs-ran-42"); // make ran the shell, inside the build sandbox
    const repro = done.artifacts.find((a) => a.name === "reproduce.sh")!;
    const script = await raw(base, { path: repro.url });
    expect(script.headers["x-content-type-options"]).toBe("nosniff");
    const head = script.body.slice(0, script.body.indexOf("\ngit clone"));
    expect(head).toMatch(/^# WARNING: This config runs commands when built; read it first\. CONFIG_BOARD_NAME, CONFIG_HOST_OPTIMIZE/m);
    expect(head).toMatch(/^echo 'reproduce\.sh: WARNING: This config runs commands when built; read it first\./m);
    // The warning is the script's first action: sh prints it before anything runs.
    const r = spawnSync("sh", ["-c", `${head}\nexit 0`], { encoding: "utf8" });
    expect(r.stderr).toContain("WARNING: This config runs commands when built; read it first.");
  }, 240_000);

  it("refuses ref names and project ids with control or text-direction characters, with the character named", async () => {
    for (const bad of ["v1\u202e", "v1\u2066x", "v1\u200f", "v1\u0085", "v1\u0007"]) {
      const r = await api<{ error: { code: string; message: string } }>(base, "GET", `/api/projects/demo/revisions/${encodeURIComponent(bad)}`);
      expect(r.status, JSON.stringify(bad)).toBe(400);
      expect(r.body.error.code).toBe("bad_ref");
      expect(r.body.error.message).not.toMatch(/[\u0000-\u001f\u0085\u200f\u202e\u2066]/);
      const post = await api<{ error: { code: string } }>(base, "POST", "/api/configs", { project: "demo", rev: bad, text: "" });
      expect(post.body.error.code).toBe("bad_ref");
    }
    const bidi = await api<{ error: { message: string } }>(base, "GET", `/api/projects/demo/revisions/${encodeURIComponent("v1\u202e")}`);
    expect(bidi.body.error.message).toContain("U+202E");
  });
});

describe("names from a remote and from the CLI", () => {
  it("kbs sync skips refs with bidi or control characters, saying so; kbs project add refuses such an id", async () => {
    const dataDir = tmpDir();
    const fw = createFakeFirmwareRepo(path.join(tmpDir(), "fw"));
    // git accepts all of these; kbs must not show any of them as a revision.
    for (const name of ["v0.3.0\u202e1", "fix\u2067", "rel\u0085"]) fixtureGit(fw.dir, ["tag", name]);
    fixtureGit(fw.dir, ["branch", "main\u200e"]);
    const env = { ...process.env, KBS_DATA_DIR: dataDir, KBS_UPSTREAMS: "0", KBS_POOL_SIZE: "0", KBS_LOG_LEVEL: "warn" };
    const kbs = (args: string[]) => spawnSync(process.execPath, [kbsBin, ...args], { encoding: "utf8", env, timeout: 120_000 });

    const badId = kbs(["project", "add", "fw\u202e", "--recipe", "kconfiglib", "--url", fw.dir]);
    expect(badId.status).not.toBe(0);
    expect(badId.stderr).toContain("fw\\u{202e}");
    expect(badId.stderr).not.toMatch(/\u202e|at .*\.ts:\d+/);

    expect(kbs(["project", "add", "fw", "--recipe", "kconfiglib", "--url", fw.dir]).status).toBe(0);
    const sync = kbs(["sync", "fw"]);
    expect(sync.status, sync.stderr).toBe(0);
    expect(sync.stdout).toMatch(/skipped refs with unusable names: .*v0\.3\.0\\u\{202e\}1/);
    for (const shown of ["fix\\u{2067}", "rel\\u{85}", "main\\u{200e}"]) expect(sync.stdout).toContain(shown);
    expect(sync.stdout + sync.stderr).not.toMatch(/[\u0085\u200e\u2067\u202e]/);
    const revs = JSON.parse(kbs(["revisions", "fw", "--json"]).stdout) as Array<{ refs: string[] }>;
    const refs = revs.flatMap((r) => r.refs);
    expect(refs).toContain("tag:v0.3.0");
    expect(refs.filter((r) => /[\u0085\u200e\u2067\u202e]/.test(r))).toEqual([]);
  }, 180_000);
});

describe("request timeouts", () => {
  let server: KbsProcess;
  let base: string;
  let configId: string;

  beforeAll(async () => {
    const dataDir = tmpDir();
    const fx = createBuildFixtureRepo(path.join(tmpDir(), "fx"), { mediumSec: 3 });
    await addProject(dataDir, "fx", fx.dir);
    server = await startKbs({ dataDir, withNext: false, env: { ...buildTestEnv, KBS_HEADERS_TIMEOUT_SEC: "1", KBS_REQUEST_TIMEOUT_SEC: "1" } });
    base = server.url;
    const cfg = await api<{ id: string }>(base, "POST", "/api/configs", { project: "fx", rev: "medium", text: "CONFIG_ARCH_HOST=y\n" });
    configId = cfg.body.id;
  }, 120_000);
  afterAll(async () => {
    await server?.stop();
  });

  it("drops a client that never finishes its headers with 408, and one whose body stalls", async () => {
    const slowHeaders = await rawSocket(base);
    slowHeaders.socket.write("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    await slowHeaders.closed;
    expect(slowHeaders.received()).toMatch(/^HTTP\/1\.1 408/);
    const slowBody = await rawSocket(base);
    slowBody.socket.write("POST /api/configs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{");
    await slowBody.closed;
    expect(slowBody.received()).toMatch(/^HTTP\/1\.1 408/);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
  }, 60_000);

  it("keeps a build-log stream open past the request timeout until the build ends", async () => {
    const build = await api<BuildView>(base, "POST", "/api/builds", { project: "fx", rev: "medium", configId });
    const t0 = Date.now();
    const log = await (await fetch(`${base}/api/builds/${build.body.id}/log`)).text();
    expect(log).toMatch(/kbs: succeeded in/);
    // The stream outlived the 1 s request timeout: the build sleeps 3 s inside it.
    expect(Date.now() - t0).toBeGreaterThan(1000);
    expect((await waitBuild(base, build.body.id)).state).toBe("succeeded");
  }, 180_000);

  it("keeps a WebSocket (the live build log) open past both timeouts", async () => {
    const cfg = await api<{ id: string }>(base, "POST", "/api/configs", { project: "fx", rev: "medium", text: "CONFIG_ARCH_HOST=y\nCONFIG_BLINK_PERIOD_MS=250\n" });
    const build = await api<BuildView>(base, "POST", "/api/builds", { project: "fx", rev: "medium", configId: cfg.body.id });
    const t0 = Date.now();
    const ws = new WebSocket(`${base.replace(/^http/, "ws")}/ws/builds/${build.body.id}/log`);
    let text = "";
    ws.on("message", (d: Buffer) => (text += d.toString("utf8")));
    const closed = await new Promise<{ code: number; reason: string }>((resolve) => ws.once("close", (code, reason) => resolve({ code, reason: reason.toString() })));
    expect(closed).toEqual({ code: 1000, reason: "succeeded" });
    expect(text).toMatch(/kbs: succeeded in/);
    expect(Date.now() - t0).toBeGreaterThan(2000);
  }, 180_000);
});

describe("the per-client connection cap", () => {
  let server: KbsProcess;
  let base: string;
  const MAX = 6;
  // A client address of its own (all of 127/8 is loopback), so the test's other connections do not count.
  const client = "127.0.0.2";

  beforeAll(async () => {
    server = await startKbs({ dataDir: tmpDir(), withNext: false, env: { ...buildTestEnv, KBS_MAX_CONNECTIONS_PER_CLIENT: String(MAX) } });
    base = server.url;
  }, 120_000);
  afterAll(async () => {
    await server?.stop();
  });

  it("refuses connections past KBS_MAX_CONNECTIONS_PER_CLIENT with 429 and a clear message; held ones still work", async () => {
    const held: Array<Awaited<ReturnType<typeof rawSocket>>> = [];
    for (let i = 0; i < MAX; i++) held.push(await rawSocket(base, client));
    const over = await rawSocket(base, client);
    await over.closed;
    expect(over.received()).toMatch(/^HTTP\/1\.1 429/);
    expect(over.received()).toContain("KBS_MAX_CONNECTIONS_PER_CLIENT");
    expect(over.received()).toContain('"code":"too_many_connections"');
    // Other clients are not affected.
    expect((await raw(base, { path: "/healthz" })).status).toBe(200);
    // A held connection is served as usual.
    held[0]!.socket.write("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    await until("the held connection's answer", () => (/\r\n\r\n/.test(held[0]!.received()) ? true : undefined));
    expect(held[0]!.received()).toMatch(/^HTTP\/1\.1 200/);
    // Once one closes, a new connection gets in.
    held[1]!.socket.destroy();
    await held[1]!.closed;
    await until("a new connection to be served", async () => ((await raw(base, { path: "/healthz", localAddress: client }).catch(() => undefined))?.status === 200 ? true : undefined));
    for (const h of held) h.socket.destroy();
  }, 60_000);
});
