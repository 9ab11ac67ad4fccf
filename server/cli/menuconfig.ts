import fs from "node:fs";
import { parseArgs } from "node:util";
import { CliError, UsageError } from "./exit";
import { writeFileAtomic } from "../core/fs-atomic";
import { createKbs } from "../kbs";
import { loadSettings } from "../core/settings";
import type { ServerMessage } from "../../contracts/terminal-protocol";
import type { TerminalClient } from "../terminal/session";

export const usage = "usage: kbs menuconfig <project> <rev> [--config FILE] [--out FILE] [--arch ARCH]";

/**
 * `kbs menuconfig`: the same session the browser gets (a sandbox on the revision's
 * kconfig tree, configs saved to the store), attached to this terminal in-process.
 */
export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { config: { type: "string" }, out: { type: "string" }, arch: { type: "string" } },
  });
  const [project, rev] = positionals;
  if (!project || !rev || positionals.length > 2) throw new UsageError(!project || !rev ? "give a project and a revision" : "too many arguments");

  const kbs = await createKbs(loadSettings());
  try {
    let configId: string | undefined;
    if (values.config) {
      let text: Buffer;
      try {
        text = fs.readFileSync(values.config);
      } catch (e) {
        throw new CliError(`kbs menuconfig: cannot read ${values.config}: ${(e as Error).message}`);
      }
      const revision = kbs.revdb.resolve(project, rev);
      const put = kbs.configs.put({ project, commit: revision.sha, rev, text });
      for (const w of put.warnings) process.stderr.write(`kbs menuconfig: ${values.config}: ${w}\n`);
      configId = put.id;
    }
    const created = await kbs.sessions.create({ project, rev, configId, arch: values.arch, clientAddress: "local-cli" });
    const session = kbs.sessions.get(created.id)!;
    const outcome = await attachTty(session);
    const saved = session.latestConfigId;
    for (const line of outcome.errors) process.stderr.write(`kbs menuconfig: ${line}\n`);
    if (!saved) {
      process.stderr.write("kbs menuconfig: no config was saved (menuconfig did not write one).\n");
      return values.out ? 1 : outcome.code;
    }
    process.stderr.write(`kbs menuconfig: saved config ${saved}\n`);
    if (values.out) {
      const c = kbs.configs.require(saved);
      writeFileAtomic(values.out, c.written ?? c.text);
      process.stderr.write(`kbs menuconfig: wrote ${values.out}\n`);
    }
    return outcome.code;
  } finally {
    await kbs.close();
  }
}

type AttachedSession = {
  attach(client: TerminalClient, cols: number, rows: number): Promise<void>;
  input(client: TerminalClient, data: Buffer): void;
  resize(cols: number, rows: number): void;
};

/** This process's terminal as the session's client: raw mode in, bytes out, until the session closes it. */
function attachTty(session: AttachedSession): Promise<{ code: number; errors: string[] }> {
  const stdin = process.stdin;
  const stdout = process.stdout;
  const errors: string[] = [];
  let code = 0;
  return new Promise((resolve) => {
    const size = () => ({ cols: stdout.columns || 80, rows: stdout.rows || 24 });
    const onResize = () => session.resize(size().cols, size().rows);
    const onInput = (d: Buffer) => session.input(client, d);
    const client: TerminalClient = {
      bufferedAmount: 0,
      sendBytes: (data) => void stdout.write(data),
      sendMessage: (msg: ServerMessage) => {
        if (msg.type === "error") errors.push(msg.message);
        if (msg.type === "exit") code = msg.code ?? 1;
      },
      close: () => {
        stdout.off("resize", onResize);
        stdin.off("data", onInput);
        if (stdin.isTTY) stdin.setRawMode(false);
        stdin.pause();
        resolve({ code, errors });
      },
    };
    if (stdin.isTTY) stdin.setRawMode(true);
    stdin.on("data", onInput);
    stdout.on("resize", onResize);
    stdin.resume();
    void session.attach(client, size().cols, size().rows);
  });
}
