import { SettingsError } from "./settings";

/** A `kbs` verb: takes its own argv (after the verb), returns the exit code. */
export type Verb = (argv: string[]) => Promise<number>;

/**
 * The verbs of DESIGN.md "The kbs command". Each lives in server/cli/<verb>.ts and is
 * loaded only when called, so `kbs doctor` does not load the build queue.
 * A verb whose part has not landed maps to null and says so.
 */
const verbs: Record<string, (() => Promise<{ run: Verb }>) | null> = {
  serve: () => import("./cli/serve"),
  doctor: () => import("./cli/doctor"),
  project: () => import("./cli/project"),
  sync: () => import("./cli/sync"),
  revisions: () => import("./cli/revisions"),
  menuconfig: () => import("./cli/menuconfig"),
  build: () => import("./cli/build"),
  worker: () => import("./cli/worker"),
  "worker-token": () => import("./cli/worker-token"),
  bench: () => import("./cli/bench"),
  vm: () => import("./cli/vm"),
};

const usage = `usage: kbs <verb> [options]

  serve [--port 3000] [--host 127.0.0.1]   the portal
  project add <id> --recipe R (--url U | --tarball F --rev-name N)
  project list
  sync [<project>...]                      fetch, index revisions, make kconfig bundles
  revisions <project> [--json] [--limit N] [--q TEXT]
  menuconfig <project> <rev> [--config FILE] [--out FILE]
  build <project> <rev> --config FILE [--json] [--out DIR]
  worker [--redis URL] [--workers N]      a build worker on the server's data dir
  worker --server URL --token T [--redis URL] [--workers N]
                                           a build worker on any machine, with its own data dir
  worker-token create <name> | list | revoke <name>   tokens for remote workers
  vm run <build-id> [--data-dir D | --url U]  verify a VM image build's sha256s and boot it in QEMU here
  doctor                                   what this machine can run, and how to fix what it cannot
  bench [--json] [--out FILE] [--quick] [--only S,..] [--full]  the benchmark suite
`;

export async function main(argv: string[]): Promise<number> {
  const [verb, ...rest] = argv;
  if (!verb || verb === "--help" || verb === "-h" || verb === "help") {
    process.stdout.write(usage);
    return verb ? 0 : 2;
  }
  if (!(verb in verbs)) {
    process.stderr.write(`kbs: unknown verb '${verb}'\n\n${usage}`);
    return 2;
  }
  const load = verbs[verb];
  if (!load) {
    process.stderr.write(`kbs ${verb}: not implemented yet\n`);
    return 3;
  }
  try {
    const mod = await load();
    return await mod.run(rest);
  } catch (e) {
    if (e instanceof SettingsError || e instanceof CliError) {
      process.stderr.write(`${e.message}\n`);
      return 2;
    }
    throw e;
  }
}

/** A usage or input error: printed as is, exit 2. */
export class CliError extends Error {}
