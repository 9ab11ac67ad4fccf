import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { KbsError } from "../core/errors";
import { CliError, UsageError } from "./exit";
import { createKbs } from "../kbs";
import { loadSettings } from "../core/settings";
import { AssetMismatchError, fetchVerified, httpSource, storeSource, type AssetSource } from "../vm/assets";
import { qemuArgv } from "../vm/boot";

export const usage = `usage: kbs vm run <build-id> [--data-dir DIR | --url URL] [--keep DIR] [--append ARGS] [-- QEMU ARGS...]

  Finds a VM image build (in the data dir's artifact store, or on the kbs server at URL),
  verifies every asset's sha256 against its vm-manifest.json, and boots it in QEMU (TCG)
  on this terminal. Ctrl-A X quits QEMU.
  --keep DIR     keep the verified files in DIR (default: a temporary dir, removed after)
  --append ARGS  added to the kernel command line (with -- -no-reboot, kbs.boottest=1 prints the marker and ends the VM)`;

/** `kbs vm run`: boot a VM image build here. */
export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== "run") throw new UsageError(sub ? `unknown sub-verb '${sub}'` : "give a sub-verb");
  const dashes = rest.indexOf("--");
  const own = dashes < 0 ? rest : rest.slice(0, dashes);
  const extra = dashes < 0 ? [] : rest.slice(dashes + 1);
  const { values, positionals } = parseArgs({
    args: own,
    allowPositionals: true,
    options: { "data-dir": { type: "string" }, url: { type: "string" }, keep: { type: "string" }, append: { type: "string" } },
  });
  const [buildId] = positionals;
  if (!buildId || positionals.length > 1) throw new UsageError(buildId ? "too many arguments" : "give a build id");
  if (values.url && values["data-dir"]) throw new CliError("kbs vm run: give --data-dir or --url, not both");

  const dir = values.keep ? path.resolve(values.keep) : fs.mkdtempSync(path.join(os.tmpdir(), "kbs-vm-"));
  try {
    const manifest = await withSource(buildId, values, (source) => fetchVerified(source, dir));
    process.stderr.write(
      `kbs vm: build ${buildId}: kernel ${manifest.kernel.release} (${manifest.kernel.source}), ${manifest.assets.length} assets verified (sha256), ${manifest.sizeKB} KB\n` +
        `kbs vm: booting in QEMU (TCG); Ctrl-A X quits\n`,
    );
    const [cmd, ...args] = qemuArgv(manifest, dir, { append: values.append, extra });
    return await new Promise<number>((resolve, reject) => {
      const child = spawn(cmd!, args, { stdio: "inherit" });
      child.once("error", (e) => reject(new CliError(`kbs vm: cannot start ${cmd}: ${e.message} (apt-get install qemu-system-x86)`)));
      child.once("exit", (code, signal) => resolve(code ?? (signal ? 128 : 1)));
    });
  } catch (e) {
    if (e instanceof AssetMismatchError) {
      process.stderr.write(`kbs vm: ${e.message}\n`);
      return 4;
    }
    // An error of kbs's own parts keeps its kind; the rest (the network, a missing build) is the input's.
    if (e instanceof CliError || e instanceof KbsError) throw e;
    throw new CliError(`kbs vm: ${(e as Error).message}`);
  } finally {
    if (!values.keep) fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The build's files from a kbs server (--url) or a data dir (--data-dir, else KBS_DATA_DIR). */
async function withSource<T>(buildId: string, opts: { url?: string; "data-dir"?: string }, fn: (s: AssetSource) => Promise<T>): Promise<T> {
  if (opts.url) return fn(httpSource(opts.url, buildId));
  const kbs = await createKbs(loadSettings(undefined, { KBS_DATA_DIR: opts["data-dir"], KBS_BUILTINS: "0", KBS_UPSTREAMS: "0", KBS_POOL_SIZE: "0" }));
  try {
    const build = kbs.builds.get(buildId);
    if (!build) throw new Error(`there is no build ${buildId} in ${kbs.settings.dataDir}`);
    if (build.state !== "succeeded") throw new Error(`build ${buildId} is ${build.state}, not succeeded: there is no image to boot`);
    return await fn(storeSource(`build ${buildId} in ${kbs.settings.dataDir}`, build.artifacts, (name) => kbs.builds.artifact(build, name).file));
  } finally {
    await kbs.close();
  }
}
