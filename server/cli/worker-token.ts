import { parseArgs } from "node:util";
import { CliError } from "./exit";
import { openDb } from "../core/db";
import { loadSettings } from "../core/settings";
import { WorkerTokens } from "../workers/tokens";

export const usage = "usage: kbs worker-token create <name> | list [--json] | revoke <name-or-id>";

/** `kbs worker-token create|list|revoke`, on the server's data dir: the tokens remote `kbs worker`s show. */
export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { json: { type: "boolean" } } });
  const [sub, arg, ...extra] = positionals;
  if (!sub || extra.length) throw new CliError(usage);
  const db = openDb(loadSettings().dataDir);
  try {
    const tokens = new WorkerTokens(db);
    switch (sub) {
      case "create": {
        if (!arg) throw new CliError(`kbs worker-token create: name the token (e.g. the worker's host)\n${usage}`);
        const made = tokens.create(arg);
        if (values.json) process.stdout.write(JSON.stringify({ ...made.info, token: made.token }) + "\n");
        else process.stdout.write(`${made.token}\n`);
        process.stderr.write(`token '${arg}' (id ${made.info.id}) created; it is shown only now. Start the worker with: kbs worker --server URL --token <token> (or KBS_WORKER_TOKEN)\n`);
        return 0;
      }
      case "list": {
        if (arg) throw new CliError(usage);
        const list = tokens.list();
        if (values.json) process.stdout.write(JSON.stringify(list) + "\n");
        else if (!list.length) process.stdout.write("no worker tokens; make one with kbs worker-token create <name>\n");
        else for (const t of list) process.stdout.write(`${t.id}  ${t.name.padEnd(20)}  ${t.revokedAt ? `revoked ${t.revokedAt}` : "valid"}  created ${t.createdAt}  last used ${t.lastUsedAt ?? "never"}\n`);
        return 0;
      }
      case "revoke": {
        if (!arg) throw new CliError(`kbs worker-token revoke: name the token or its id\n${usage}`);
        if (!tokens.revoke(arg)) throw new CliError(`kbs worker-token revoke: no valid token named or with id '${arg}' (see kbs worker-token list)`);
        process.stdout.write(`token '${arg}' revoked: its workers get 401 from now on\n`);
        return 0;
      }
      default:
        throw new CliError(usage);
    }
  } finally {
    db.close();
  }
}
