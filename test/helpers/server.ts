import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const kbsBin = path.join(root, "bin/kbs.mjs");

export interface KbsProcess {
  url: string;
  child: ChildProcess;
  output: () => string;
  /** SIGTERM and wait for exit. */
  stop(): Promise<number | null>;
  /** SIGKILL the server (a crash). */
  kill(): Promise<void>;
}

/**
 * Servers still running when this process exits (a test runner giving up on a hook,
 * a bench interrupted) are killed with it, never left serving on their own.
 */
const live = new Set<ChildProcess>();
process.once("exit", () => {
  for (const c of live) c.kill("SIGKILL");
});

/**
 * Start a real `kbs serve` process (for `kbs bench` and the tests; test/helpers/server.ts
 * re-exports this) on a free loopback port (or `port`: a server restarted at the same address) with its own data dir.
 * `withNext: false` serves the API and WebSockets only (no Next build needed).
 */
export async function startKbs(opts: { dataDir: string; env?: Record<string, string>; withNext?: boolean; timeoutMs?: number; port?: number }): Promise<KbsProcess> {
  const args = [kbsBin, "serve", "--port", String(opts.port ?? 0)];
  if (opts.withNext === false) args.push("--no-next");
  const child = spawn(process.execPath, args, {
    cwd: root,
    env: {
      ...process.env,
      KBS_DATA_DIR: opts.dataDir,
      KBS_UPSTREAMS: "0",
      KBS_LOG_LEVEL: process.env.KBS_LOG_LEVEL ?? "warn",
      ...opts.env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  live.add(child);
  child.once("exit", () => live.delete(child));
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`kbs did not start in time:\n${out}`)), opts.timeoutMs ?? 60_000);
    const onData = () => {
      const m = /kbs listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    child.stdout!.on("data", onData);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`kbs exited with ${code} before listening:\n${out}`));
    });
  });
  const exited = new Promise<number | null>((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode);
    else child.once("exit", (code) => resolve(code));
  });
  return {
    url,
    child,
    output: () => out,
    stop: async () => {
      child.kill("SIGTERM");
      return exited;
    },
    kill: async () => {
      child.kill("SIGKILL");
      await exited;
    },
  };
}
