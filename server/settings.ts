import os from "node:os";
import path from "node:path";
import { z } from "zod";

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
  KBS_LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  /** Extra origins allowed to open WebSockets, comma separated; the server's own origin is always allowed. */
  KBS_ALLOWED_ORIGINS: z.string().default(""),
  /** Set to 0 to skip the built-in projects (tests that want an empty registry). */
  KBS_BUILTINS: z.enum(["0", "1"]).default("1"),
  /** Set to 0 to not pre-register Klipper and Kalico by URL. */
  KBS_UPSTREAMS: z.enum(["0", "1"]).default("1"),
});

export type Settings = {
  dataDir: string;
  port: number;
  host: string;
  redisUrl: string | undefined;
  sandbox: "bwrap" | "qemu" | "docker" | "podman";
  poolSize: number;
  buildWorkers: number;
  logLevel: string;
  allowedOrigins: string[];
  builtins: boolean;
  upstreams: boolean;
};

export class SettingsError extends Error {}

export function loadSettings(env: Env = process.env): Settings {
  const parsed = SettingsSchema.safeParse(Object.fromEntries(Object.entries(env).filter(([, v]) => v !== "")));
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join(".")}: ${i.message}`);
    throw new SettingsError(`kbs: bad settings in the environment:\n${lines.join("\n")}`);
  }
  const s = parsed.data;
  return {
    dataDir: path.resolve(s.KBS_DATA_DIR),
    port: s.PORT,
    host: s.HOST,
    redisUrl: s.KBS_REDIS_URL,
    sandbox: s.KBS_SANDBOX,
    poolSize: s.KBS_POOL_SIZE,
    buildWorkers: s.KBS_BUILD_WORKERS,
    logLevel: s.KBS_LOG_LEVEL,
    allowedOrigins: s.KBS_ALLOWED_ORIGINS.split(",").map((o) => o.trim()).filter(Boolean),
    builtins: s.KBS_BUILTINS === "1",
    upstreams: s.KBS_UPSTREAMS === "1",
  };
}

/** An environment as a plain map (Next's types make NODE_ENV required on ProcessEnv). */
export type Env = Record<string, string | undefined>;

/** For child_process options: Next's global types demand NODE_ENV on every ProcessEnv. */
export const procEnv = (env: Env): NodeJS.ProcessEnv => env as NodeJS.ProcessEnv;
