#!/usr/bin/env node
// The `kbs` command: loads the TypeScript sources through tsx's ESM hook.
import { register } from "tsx/esm/api";

register();
const { main } = await import("../server/cli.ts");
const code = await main(process.argv.slice(2), { bench: () => import("../bench/cli.ts") });
if (code !== undefined && code !== null) process.exitCode = code;
