import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import IORedis from "ioredis";
import { addFixtureProject } from "../fixtures/builds";
import type { BuildView } from "../../server/builds/types";
import { loadSettings } from "../../server/core/settings";
import { startServer, type RunningServer } from "../../server/main";
import { kbsBin } from "./server";

const root = path.resolve(path.dirname(kbsBin), "..");

/** Settings every build test server and worker shares (small caps so failures come fast). */
export const buildTestEnv: Record<string, string> = {
  KBS_UPSTREAMS: "0",
  KBS_BUILTINS: "0",
  KBS_POOL_SIZE: "0",
  KBS_BUILD_WORKERS: "1",
  KBS_BUILD_TIMEOUT_SEC: "25",
  KBS_BUILD_DISK_MB: "64",
  KBS_LOG_LEVEL: process.env.KBS_LOG_LEVEL ?? "warn",
};

/** A Redis database of its own for one test file (the test setup starts one redis-server), emptied. */
export async function testRedis(db: number): Promise<string> {
  const base = process.env.KBS_TEST_REDIS_URL;
  if (!base) throw new Error("KBS_TEST_REDIS_URL is not set: run the tests through vitest (test/global-setup.ts starts Redis)");
  const url = `${base}/${db}`;
  const r = new IORedis(url);
  await r.flushdb();
  r.disconnect();
  return url;
}

/** Register a git repo as project `id` in a data dir and index it (in this process, then closed). */
/**
 * A fixture project added with the kbs command to a fresh data dir under `dir`, and a
 * server on it (API only, one warm sandbox, builds allowed 300 s).
 */
export async function serveFixtureProject(dir: string, id: string, repoDir: string, recipe: string): Promise<{ server: RunningServer; base: string; dataDir: string; env: Record<string, string> }> {
  const dataDir = path.join(dir, "data");
  const env = { ...buildTestEnv, KBS_DATA_DIR: dataDir, PORT: "0", KBS_BUILD_TIMEOUT_SEC: "300" };
  await addFixtureProject(env, id, repoDir, recipe);
  const server = await startServer(loadSettings({ ...env, KBS_POOL_SIZE: "1" }), { withNext: false });
  return { server, base: server.url, dataDir, env };
}

export const addProject = (dataDir: string, id: string, repoDir: string) => addFixtureProject({ ...buildTestEnv, KBS_DATA_DIR: dataDir }, id, repoDir);

export async function api<T = unknown>(base: string, method: string, p: string, body?: unknown): Promise<{ status: number; body: T; headers: Headers }> {
  const res = await fetch(base + p, {
    method,
    headers: body === undefined ? {} : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* text */
  }
  return { status: res.status, body: parsed as T, headers: res.headers };
}

export async function saveConfig(base: string, project: string, rev: string, text: string): Promise<string> {
  const r = await api<{ id: string }>(base, "POST", "/api/configs", { project, rev, text });
  if (r.status !== 201 && r.status !== 200) throw new Error(`POST /api/configs: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.id;
}

/** Poll a build until `until` holds (default: it has ended). */
export async function waitBuild(base: string, id: string, until: (b: BuildView) => boolean = (b) => !["queued", "running"].includes(b.state), timeoutMs = 120_000): Promise<BuildView> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { body } = await api<BuildView>(base, "GET", `/api/builds/${id}`);
    if (until(body)) return body;
    if (Date.now() > deadline) throw new Error(`build ${id} still ${body.state} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Processes on this machine whose command line contains `needle` (leftovers of a killed sandbox). */
export function processesMatching(needle: string): string[] {
  const out: string[] = [];
  for (const pid of fs.readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ").trim();
      if (cmd.includes(needle)) out.push(`${pid} ${cmd}`);
    } catch {
      /* gone */
    }
  }
  return out;
}

/** Wait until no process matches (sandbox teardown is asynchronous). */
export async function noProcessesLeft(needle: string, timeoutMs = 15_000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  let left = processesMatching(needle);
  while (left.length && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    left = processesMatching(needle);
  }
  return left;
}

export interface WorkerProcess {
  child: ChildProcess;
  output(): string;
  kill(): Promise<void>;
  stop(): Promise<void>;
}

/** A real `kbs worker` process on a data dir (Redis engine when `redisUrl` is given; `args` e.g. --server URL --token T for a remote one). */
export async function startWorker(dataDir: string, opts: { redisUrl?: string; env?: Record<string, string>; args?: string[] } = {}): Promise<WorkerProcess> {
  const args = [kbsBin, "worker", "--workers", "1", ...(opts.redisUrl ? ["--redis", opts.redisUrl] : []), ...(opts.args ?? [])];
  const child = spawn(process.execPath, args, { cwd: root, env: { ...process.env, ...buildTestEnv, KBS_DATA_DIR: dataDir, ...opts.env }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`kbs worker did not start:\n${out}`)), 60_000);
    child.stdout!.on("data", () => {
      if (out.includes("kbs worker:")) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`kbs worker exited with ${code}:\n${out}`));
    });
  });
  return {
    child,
    output: () => out,
    kill: async () => {
      child.kill("SIGKILL");
      await exited;
    },
    stop: async () => {
      child.kill("SIGTERM");
      await exited;
    },
  };
}
