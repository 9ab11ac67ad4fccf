import { parseArgs } from "node:util";
import { loadSettings } from "../core/settings";
import { serveForever } from "../main";

export const usage = "usage: kbs serve [--port 3000] [--host 127.0.0.1] [--no-next]";

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { port: { type: "string" }, host: { type: "string" }, "no-next": { type: "boolean" } },
  });
  await serveForever(loadSettings(undefined, { PORT: values.port, HOST: values.host }), { withNext: !values["no-next"] });
  return new Promise<number>(() => {}); // runs until a signal ends the process
}
