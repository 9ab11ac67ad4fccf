import type net from "node:net";
import os from "node:os";
import path from "node:path";
import { z } from "zod";
import { parseTrustedProxies } from "./client-address";

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Everything kbs reads from the environment, validated once at start. */
const intFrom = (name: string, def: number, min: number, max: number) =>
  z.coerce
    .number({ error: `${name} must be a number` })
    .int(`${name} must be a whole number`)
    .min(min, `${name} must be at least ${min}`)
    .max(max, `${name} must be at most ${max}`)
    .default(def);

const SettingsSchema = z.object({
  KBS_DATA_DIR: z.string().min(1).default("./data"),
  PORT: intFrom("PORT", 3000, 0, 65535),
  HOST: z.string().min(1).default("127.0.0.1"),
  KBS_REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, "KBS_REDIS_URL must start with redis:// or rediss://")
    .optional(),
  KBS_SANDBOX: z.enum(["bwrap", "qemu", "docker", "podman"]).default("bwrap"),
  KBS_POOL_SIZE: intFrom("KBS_POOL_SIZE", 2, 0, 200),
  KBS_BUILD_WORKERS: intFrom("KBS_BUILD_WORKERS", Math.max(1, os.availableParallelism() - 1), 0, 64),
  KBS_LOG_LEVEL: z.enum(LOG_LEVELS).default("info"),
  /** Extra exact origins, comma separated, that may open terminal WebSockets and call the state-changing API (those of the allowed hosts always may). */
  KBS_ALLOWED_ORIGINS: z.string().default(""),
  /**
   * Extra names the server answers to (the Host header), comma separated: `name` (any port) or
   * `name:port`. The listen host, localhost, 127.0.0.1 and [::1] (bare or at the listen port) always are.
   */
  KBS_ALLOWED_HOSTS: z.string().default(""),
  /** Time a client has to send a request's headers, and its whole request (seconds). */
  KBS_HEADERS_TIMEOUT_SEC: intFrom("KBS_HEADERS_TIMEOUT_SEC", 20, 1, 3600),
  KBS_REQUEST_TIMEOUT_SEC: intFrom("KBS_REQUEST_TIMEOUT_SEC", 60, 1, 86400),
  /** Open connections one client address may hold; further ones are refused. */
  KBS_MAX_CONNECTIONS_PER_CLIENT: intFrom("KBS_MAX_CONNECTIONS_PER_CLIENT", 64, 1, 100_000),
  /** Set to 0 to skip the built-in projects (tests that want an empty registry). */
  KBS_BUILTINS: z.enum(["0", "1"]).default("1"),
  /** Set to 0 to not pre-register the recipes' upstreams (`preregister`) by URL. */
  KBS_UPSTREAMS: z.enum(["0", "1"]).default("1"),
  /** Builds waiting at most; past it POST /api/builds answers 429 with Retry-After. */
  KBS_BUILD_QUEUE_MAX: intFrom("KBS_BUILD_QUEUE_MAX", 200, 1, 1_000_000),
  /** Queued builds one client (address) may have at a time. */
  KBS_BUILD_CLIENT_MAX: intFrom("KBS_BUILD_CLIENT_MAX", 10, 1, 100_000),
  /** Caps on every recipe's time limit and work-dir size (0: the recipe's own). */
  KBS_BUILD_TIMEOUT_SEC: intFrom("KBS_BUILD_TIMEOUT_SEC", 0, 0, 7 * 86400),
  KBS_BUILD_DISK_MB: intFrom("KBS_BUILD_DISK_MB", 0, 0, 1_000_000),
  /**
   * Set to 1 to let a recipe's fetch stage (Buildroot's `make source`), and only it, run
   * with the host's network to fill the download cache (data/dl/). Builds never have network.
   */
  KBS_FETCH_NETWORK: z.enum(["0", "1"], { error: "KBS_FETCH_NETWORK must be 0 or 1" }).default("0"),
  /** Build artifacts and logs are kept this long, and within this budget (pinned builds excepted). */
  KBS_BUILD_KEEP_DAYS: intFrom("KBS_BUILD_KEEP_DAYS", 30, 1, 36500),
  KBS_BUILD_STORE_MB: intFrom("KBS_BUILD_STORE_MB", 20480, 1, 100_000_000),
  /** Ready work trees (builds/tree-cache.ts: an uncompressed tar per commit built), least recently used out past this. */
  KBS_TREE_CACHE_MB: intFrom("KBS_TREE_CACHE_MB", 4096, 1, 100_000_000),
  /** After a sync, ready work trees are made for this many of its newest named commits (tags and branch heads), so their first build does not make one. */
  KBS_READY_TREES: intFrom("KBS_READY_TREES", 1, 0, 20),
  /** Terminal sessions: ended after this long without input, and after this long in all (seconds). */
  KBS_SESSION_IDLE_SEC: intFrom("KBS_SESSION_IDLE_SEC", 900, 1, 7 * 86400),
  KBS_SESSION_MAX_SEC: intFrom("KBS_SESSION_MAX_SEC", 4 * 3600, 1, 7 * 86400),
  /** How long a session outlives its dropped WebSocket, waiting for a reconnect (seconds). */
  KBS_SESSION_GRACE_SEC: intFrom("KBS_SESSION_GRACE_SEC", 60, 1, 86400),
  /** Sessions at a time: per client address, and in all. */
  KBS_SESSIONS_PER_CLIENT: intFrom("KBS_SESSIONS_PER_CLIENT", 4, 1, 10_000),
  KBS_SESSIONS_MAX: intFrom("KBS_SESSIONS_MAX", 50, 1, 100_000),
  /** Trees kept with a primed menuconfig session (the most recently used); 0 disables priming. */
  KBS_PRIMED_TREES: intFrom("KBS_PRIMED_TREES", 8, 0, 1000),
  /** Where the host dirs handed to sandboxes are made (default /run/kbs as root, else <data dir>/staging). */
  KBS_STAGING_DIR: z.string().min(1).optional(),
  /** Memory all primed sessions may hold together (MB, measured per tree): busy trees get more than one within it. */
  KBS_PRIMED_MEMORY_MB: intFrom("KBS_PRIMED_MEMORY_MB", 1024, 1, 1_000_000),
  /** After a sync, the tree's own Kconfig tools are built for this many of its newest kconfig trees (tags and branch heads). */
  KBS_PREBUILD_TREES: intFrom("KBS_PREBUILD_TREES", 3, 0, 100),
  /** Reverse proxies (CIDRs, comma separated) whose X-Forwarded-For names the client for the per-client limits. */
  KBS_TRUSTED_PROXIES: z.string().default(""),
  /** As root: the host uids handed out one per live sandbox. */
  KBS_SANDBOX_UID_BASE: intFrom("KBS_SANDBOX_UID_BASE", 200_000, 1000, 2 ** 31 - 100_000),
  KBS_SANDBOX_UID_COUNT: intFrom("KBS_SANDBOX_UID_COUNT", 50_000, 1, 1_000_000),
  /** Warm sandboxes older than this are replaced by fresh ones (seconds). */
  KBS_POOL_IDLE_SECONDS: intFrom("KBS_POOL_IDLE_SECONDS", 1800, 5, 7 * 86400),
  /** Images the pool keeps warm (comma separated). */
  KBS_POOL_IMAGES: z.string().default("menuconfig"),
  /** How many sandboxes may be starting at once (claims first, then refills). */
  KBS_SANDBOX_SPAWN_CONCURRENCY: intFrom("KBS_SANDBOX_SPAWN_CONCURRENCY", 4, 1, 64),
  /** The qemu backend's guest kernel (default: the newest /boot/vmlinuz-*-cloud-amd64), and its accelerator. */
  KBS_QEMU_KERNEL: z.string().min(1).optional(),
  KBS_QEMU_ACCEL: z.enum(["tcg", "kvm"], { error: "KBS_QEMU_ACCEL must be tcg or kvm" }).default("tcg"),
  /** The token `kbs worker --server` sends when no --token is given. */
  KBS_WORKER_TOKEN: z.string().min(1).optional(),
});

/** Settings given as flags (`kbs serve --port`), by the name of the variable they stand for; they win over the environment. */
export type SettingOverrides = Partial<Record<keyof z.input<typeof SettingsSchema>, string>>;

/** The sandbox backends' and the warm pool's knobs. */
export interface SandboxSettings {
  /** KBS_FETCH_NETWORK: a run may ask for the network (RunRequest.network); else such a request is refused. */
  allowNetwork: boolean;
  uidBase: number;
  uidCount: number;
  poolIdleMs: number;
  poolImages: string[];
  spawnConcurrency: number;
  qemuKernel: string | undefined;
  qemuAccel: "tcg" | "kvm";
}

export type Settings = {
  dataDir: string;
  port: number;
  host: string;
  redisUrl: string | undefined;
  sandbox: "bwrap" | "qemu" | "docker" | "podman";
  poolSize: number;
  buildWorkers: number;
  logLevel: LogLevel;
  allowedOrigins: string[];
  allowedHosts: string[];
  http: { headersTimeoutMs: number; requestTimeoutMs: number; maxConnectionsPerClient: number };
  builtins: boolean;
  upstreams: boolean;
  builds: { queueMax: number; clientMax: number; timeoutCapSec: number; diskCapMB: number; keepDays: number; storeBudgetMB: number; treeCacheMB: number; readyTreesAfterSync: number };
  sessions: { idleSec: number; maxSec: number; graceSec: number; perClient: number; max: number; primedTrees: number; primedMemoryMB: number; prebuildTrees: number };
  stagingDir: string;
  trustedProxies: net.BlockList;
  sandboxes: SandboxSettings;
  workerToken: string | undefined;
};

const commaList = (s: string) => s.split(",").map((o) => o.trim()).filter(Boolean);

export class SettingsError extends Error {}

/** The default staging root (sandbox/staging.ts): /run/kbs when kbs runs as root (a tmpfs outside the data dir), else inside the data dir. */
export function defaultStagingRoot(dataDir: string): string {
  return process.getuid?.() === 0 ? "/run/kbs" : path.join(dataDir, "staging");
}

export function loadSettings(env: Env = process.env, overrides: SettingOverrides = {}): Settings {
  const given = (vars: Env) => Object.entries(vars).filter(([, v]) => v !== undefined && v !== "");
  const parsed = SettingsSchema.safeParse(Object.fromEntries([...given(env), ...given(overrides)]));
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join(".")}: ${i.message}`);
    throw new SettingsError(`kbs: bad settings in the environment:\n${lines.join("\n")}`);
  }
  const s = parsed.data;
  const dataDir = path.resolve(s.KBS_DATA_DIR);
  let trustedProxies: net.BlockList;
  try {
    trustedProxies = parseTrustedProxies(s.KBS_TRUSTED_PROXIES);
  } catch (e) {
    throw new SettingsError(`kbs: bad settings in the environment:\n  ${(e as Error).message}`);
  }
  return {
    dataDir,
    port: s.PORT,
    host: s.HOST,
    redisUrl: s.KBS_REDIS_URL,
    sandbox: s.KBS_SANDBOX,
    poolSize: s.KBS_POOL_SIZE,
    buildWorkers: s.KBS_BUILD_WORKERS,
    logLevel: s.KBS_LOG_LEVEL,
    allowedOrigins: commaList(s.KBS_ALLOWED_ORIGINS),
    allowedHosts: commaList(s.KBS_ALLOWED_HOSTS),
    http: {
      headersTimeoutMs: s.KBS_HEADERS_TIMEOUT_SEC * 1000,
      // Node requires the request timeout to be at least the headers timeout.
      requestTimeoutMs: Math.max(s.KBS_REQUEST_TIMEOUT_SEC, s.KBS_HEADERS_TIMEOUT_SEC) * 1000,
      maxConnectionsPerClient: s.KBS_MAX_CONNECTIONS_PER_CLIENT,
    },
    builtins: s.KBS_BUILTINS === "1",
    upstreams: s.KBS_UPSTREAMS === "1",
    builds: {
      queueMax: s.KBS_BUILD_QUEUE_MAX,
      clientMax: s.KBS_BUILD_CLIENT_MAX,
      timeoutCapSec: s.KBS_BUILD_TIMEOUT_SEC,
      diskCapMB: s.KBS_BUILD_DISK_MB,
      keepDays: s.KBS_BUILD_KEEP_DAYS,
      storeBudgetMB: s.KBS_BUILD_STORE_MB,
      treeCacheMB: s.KBS_TREE_CACHE_MB,
      readyTreesAfterSync: s.KBS_READY_TREES,
    },
    sessions: {
      idleSec: s.KBS_SESSION_IDLE_SEC,
      maxSec: s.KBS_SESSION_MAX_SEC,
      graceSec: s.KBS_SESSION_GRACE_SEC,
      perClient: s.KBS_SESSIONS_PER_CLIENT,
      max: s.KBS_SESSIONS_MAX,
      primedTrees: s.KBS_PRIMED_TREES,
      primedMemoryMB: s.KBS_PRIMED_MEMORY_MB,
      prebuildTrees: s.KBS_PREBUILD_TREES,
    },
    stagingDir: s.KBS_STAGING_DIR ? path.resolve(s.KBS_STAGING_DIR) : defaultStagingRoot(dataDir),
    trustedProxies,
    sandboxes: {
      allowNetwork: s.KBS_FETCH_NETWORK === "1",
      uidBase: s.KBS_SANDBOX_UID_BASE,
      uidCount: s.KBS_SANDBOX_UID_COUNT,
      poolIdleMs: s.KBS_POOL_IDLE_SECONDS * 1000,
      poolImages: commaList(s.KBS_POOL_IMAGES),
      spawnConcurrency: s.KBS_SANDBOX_SPAWN_CONCURRENCY,
      qemuKernel: s.KBS_QEMU_KERNEL,
      qemuAccel: s.KBS_QEMU_ACCEL,
    },
    workerToken: s.KBS_WORKER_TOKEN,
  };
}

/**
 * The log level, read on its own: the logger exists before the settings are loaded. A
 * level loadSettings refuses means info here (and loadSettings then says what is wrong).
 */
export function logLevel(env: Env = process.env): LogLevel {
  const level = z.enum(LOG_LEVELS).safeParse(env.KBS_LOG_LEVEL);
  return level.success ? level.data : "info";
}

/** KBS_DEBUG: `kbs` prints the stack trace of an unexpected error (read on its own: settings may be what failed). */
export function debugStackTraces(env: Env = process.env): boolean {
  return !!env.KBS_DEBUG;
}

/** An environment as a plain map (Next's types make NODE_ENV required on ProcessEnv). */
export type Env = Record<string, string | undefined>;

/** For child_process options: Next's global types demand NODE_ENV on every ProcessEnv. */
export const procEnv = (env: Env): NodeJS.ProcessEnv => env as NodeJS.ProcessEnv;
