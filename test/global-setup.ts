import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

/** A free loopback port, chosen by the kernel. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address() as net.AddressInfo;
      srv.close(() => resolve(addr.port));
    });
    srv.on("error", reject);
  });
}

let redis: ChildProcess | undefined;
let redisDir: string | undefined;

/**
 * Starts a real Redis (Debian's redis-server) on a free loopback port for the
 * distributed queue tests; its URL reaches the tests as KBS_TEST_REDIS_URL.
 */
export async function setup(): Promise<void> {
  const port = await freePort();
  redisDir = fs.mkdtempSync(path.join(os.tmpdir(), "kbs-redis-"));
  redis = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", redisDir], {
    stdio: "ignore",
  });
  await new Promise<void>((resolve, reject) => {
    const deadline = Date.now() + 10_000;
    const tryConnect = () => {
      const s = net.connect(port, "127.0.0.1", () => {
        s.end();
        resolve();
      });
      s.on("error", () => {
        if (Date.now() > deadline) reject(new Error("redis-server did not start: is Debian's redis-server installed?"));
        else setTimeout(tryConnect, 50);
      });
    };
    tryConnect();
  });
  process.env.KBS_TEST_REDIS_URL = `redis://127.0.0.1:${port}`;
}

export async function teardown(): Promise<void> {
  redis?.kill("SIGKILL");
  if (redisDir) fs.rmSync(redisDir, { recursive: true, force: true });
}
