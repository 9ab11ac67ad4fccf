import { parseArgs } from "node:util";
import { BadToken } from "../builds/remote/client";
import { RemoteWorker } from "../builds/remote/worker";
import { createKbs } from "../kbs";
import { killAllGroups } from "../core/proc";
import { createSandboxService } from "../sandbox/service";
import { loadSettings } from "../core/settings";
import { CliError } from "./exit";

const stopped = () =>
  new Promise<void>((resolve) => {
    process.once("SIGTERM", () => resolve());
    process.once("SIGINT", () => resolve());
  });

/**
 * `kbs worker [--redis URL] [--workers N]`: build workers without the HTTP server, on the
 * server's data dir (same machine, or a shared filesystem). With Redis (--redis or
 * KBS_REDIS_URL) it takes jobs from the shared BullMQ queue; without, it claims builds from
 * the data dir's SQLite queue.
 *
 * `kbs worker --server URL --token T`: a worker on any machine (server/builds/remote): its
 * own data dir (KBS_DATA_DIR: the git mirror, ccache, work), jobs from the Redis queue the
 * server uses (or --redis), everything else through the server's API.
 */
export const usage = "usage: kbs worker [--redis URL] [--workers N]";

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { redis: { type: "string" }, workers: { type: "string" }, server: { type: "string" }, token: { type: "string" } } });
  if (values.workers !== undefined && !/^[1-9][0-9]*$/.test(values.workers)) throw new CliError("kbs worker: --workers must be a whole number of at least 1");
  const settings = loadSettings(undefined, { KBS_REDIS_URL: values.redis, KBS_BUILD_WORKERS: values.workers });
  const n = Math.max(1, settings.buildWorkers);
  if (values.server !== undefined) return remote(values.server, values.token ?? settings.workerToken, values.redis, n, settings);
  if (values.token) throw new CliError("kbs worker: --token goes with --server URL (a worker on another machine)");
  const kbs = await createKbs(settings);
  await kbs.builds.startWorkers(n);
  console.log(`kbs worker: ${n} build worker(s) on the ${kbs.builds.queue.engine} queue, data dir ${settings.dataDir}`);
  await stopped();
  // Running builds are stopped and handed back to the queue for another worker.
  await kbs.close();
  killAllGroups();
  return 0;
}

async function remote(server: string, token: string | undefined, redis: string | undefined, n: number, settings: ReturnType<typeof loadSettings>): Promise<number> {
  if (!/^https?:\/\/[^/]+/.test(server)) throw new CliError(`kbs worker: --server must be the server's URL (http://host:port), not ${JSON.stringify(server)}`);
  if (!token) throw new CliError("kbs worker: --server needs a token: --token T or KBS_WORKER_TOKEN (make one on the server with kbs worker-token create <name>)");
  const sandbox = await createSandboxService({ ...settings, poolSize: 0 });
  const worker = new RemoteWorker({ settings, sandbox, server, token, redisUrl: redis, slots: n });
  let queue: string;
  try {
    queue = (await worker.start()).redisUrl;
  } catch (e) {
    await sandbox.close();
    if (e instanceof BadToken) throw new CliError(`kbs worker: the server refused the token: ${e.message}`);
    throw new CliError(`kbs worker: ${(e as Error).message}`);
  }
  console.log(`kbs worker: ${n} remote build worker(s) for ${server}, jobs from ${queue.replace(/\/\/[^@/]*@/, "//")}, data dir ${settings.dataDir}`);
  await stopped();
  await worker.close();
  await sandbox.close();
  killAllGroups();
  return 0;
}
