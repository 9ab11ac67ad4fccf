import { failure } from "./cli/exit";
import { debugStackTraces } from "./core/settings";

/** A `kbs` verb: takes its own argv (after the verb), returns the exit code. */
export type Verb = (argv: string[]) => Promise<number>;

/**
 * A verb module: `run`, and its usage text. `usage` may depend on the argv (a sub-verb's
 * own usage: `kbs project add --help`). main() prints it for `--help`/`-h` and, with
 * exit code 2, for any usage error, so no verb handles either itself.
 */
export interface VerbModule {
  run: Verb;
  usage: string | ((argv: string[]) => string);
  /** Its sub-verbs, if it has any: an error line then names the one that failed (`kbs project add: …`). */
  subVerbs?: readonly string[];
}

/**
 * The verbs of DESIGN.md "The kbs command". Each lives in server/cli/<verb>.ts and is
 * loaded only when called, so `kbs doctor` does not load the build queue.
 * A verb whose part has not landed maps to null and says so.
 */
const productVerbs: Record<string, (() => Promise<VerbModule>) | null> = {
  serve: () => import("./cli/serve"),
  doctor: () => import("./cli/doctor"),
  project: () => import("./cli/project"),
  sync: () => import("./cli/sync"),
  revisions: () => import("./cli/revisions"),
  menuconfig: () => import("./cli/menuconfig"),
  build: () => import("./cli/build"),
  worker: () => import("./cli/worker"),
  "worker-token": () => import("./cli/worker-token"),
  vm: () => import("./cli/vm"),
  config: () => import("./cli/config"),
};

const usage = `usage: kbs <verb> [options]

  serve [--port 3000] [--host 127.0.0.1]   the portal
  project add <id> --recipe R (--url U | --tarball F --rev-name N)
  project list | remove <id> | set-url <id> <url>
  sync [<project>...]                      fetch, index revisions, make kconfig bundles
  revisions <project> [--json] [--limit N] [--q TEXT]
  menuconfig <project> <rev> [--config FILE] [--out FILE]
  build <project> <rev> --config FILE [--json] [--out DIR]
  config upgrade <config-id> <rev> [--json]   the config on another revision, with what changed
  worker [--redis URL] [--workers N]      a build worker on the server's data dir
  worker --server URL --token T [--redis URL] [--workers N]
                                           a build worker on any machine, with its own data dir
  worker-token create <name> | list | revoke <name>   tokens for remote workers
  vm run <build-id> [--data-dir D | --url U]  verify a VM image build's sha256s and boot it in QEMU here
  doctor                                   what this machine can run, and how to fix what it cannot
  bench [--json] [--out FILE] [--quick] [--only S,..] [--full]  the benchmark suite

exit codes: 0 done; 1 failed (a failed build, or kbs itself: set KBS_DEBUG=1 for the stack trace);
  2 bad usage or input (a bad name, an unknown project or revision, a config that is not one);
  75 not possible right now (a full queue, the server busy, the disk full): run it again later
`;

/**
 * Run `kbs <verb>`. `extra` adds verbs from outside the product: bin/kbs.mjs passes
 * `bench` (bench/ imports the product, never the other way round).
 */
export async function main(argv: string[], extra: Record<string, () => Promise<VerbModule>> = {}): Promise<number> {
  const [verb, ...rest] = argv;
  const verbs = { ...productVerbs, ...extra };
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
  let mod: VerbModule | undefined;
  const verbUsage = (): string => (typeof mod?.usage === "function" ? mod.usage(rest) : (mod?.usage ?? usage));
  try {
    mod = await load();
    if (wantsHelp(rest)) {
      process.stdout.write(`${verbUsage().trimEnd()}\n`);
      return 0;
    }
    return await mod.run(rest);
  } catch (e) {
    const sub = rest[0] !== undefined && mod?.subVerbs?.includes(rest[0]) ? ` ${rest[0]}` : "";
    const f = failure(`${verb}${sub}`, e, debugStackTraces());
    process.stderr.write(f.withUsage ? `${f.text}\n\n${verbUsage().trimEnd()}\n` : `${f.text}\n`);
    return f.code;
  }
}

/** `--help`/`-h` among a verb's own options (not after `--`, which passes the rest on: `kbs vm run ... -- QEMU ARGS`). */
function wantsHelp(argv: string[]): boolean {
  const own = argv.includes("--") ? argv.slice(0, argv.indexOf("--")) : argv;
  return own.includes("--help") || own.includes("-h");
}
