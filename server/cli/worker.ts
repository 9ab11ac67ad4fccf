import { parseArgs } from "node:util";
import { createKbs } from "../kbs";
import { killAllGroups } from "../proc";
import { loadSettings } from "../settings";
import { CliError } from "../cli";

/**
 * `kbs worker [--redis URL] [--workers N]`: build workers without the HTTP server.
 * With Redis (--redis or KBS_REDIS_URL) it takes jobs from the shared BullMQ queue;
 * without, it claims builds from the data dir's SQLite queue. Either way it needs the
 * same data dir as the server (gitref, configs, artifacts, logs): same machine, or a
 * shared filesystem.
 */
export const usage = "usage: kbs worker [--redis URL] [--workers N]";

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { redis: { type: "string" }, workers: { type: "string" } } });
  const env = { ...process.env };
  if (values.redis) env.KBS_REDIS_URL = values.redis;
  if (values.workers !== undefined) {
    if (!/^[1-9][0-9]*$/.test(values.workers)) throw new CliError("kbs worker: --workers must be a whole number of at least 1");
    env.KBS_BUILD_WORKERS = values.workers;
  }
  const settings = loadSettings(env);
  const kbs = await createKbs(settings);
  const n = Math.max(1, settings.buildWorkers);
  await kbs.builds.startWorkers(n);
  console.log(`kbs worker: ${n} build worker(s) on the ${kbs.builds.queue.engine} queue, data dir ${settings.dataDir}`);
  await new Promise<void>((resolve) => {
    process.once("SIGTERM", () => resolve());
    process.once("SIGINT", () => resolve());
  });
  // Running builds are stopped and handed back to the queue for another worker.
  await kbs.close();
  killAllGroups();
  return 0;
}
