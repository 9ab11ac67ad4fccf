import type { RunRequest, RunResult } from "../sandbox/types";

const probes = new Map<string, Promise<string>>();

/**
 * `tool<TAB>first line of --version` for every tool the image has, probed once per image id
 * (the image definition's hash) and process, in a sandbox of that image that runs no project
 * code; build.sh copies the lines of the tools a config needs into toolchain.txt. A failed
 * probe is not kept: the next build probes again (and build.sh probes what is missing).
 */
export function toolchainVersions(sandbox: { run(req: RunRequest): Promise<RunResult> }, image: string, imageId: string, compilers: string[]): Promise<string> {
  // make, the host compiler, ccache and the compilers of the recipe's toolchain rules.
  const probedTools = [...new Set(["make", "gcc", "ccache", ...compilers])];
  const key = `${imageId}\0${probedTools.join(" ")}`;
  let p = probes.get(key);
  if (!p) {
    const script = `for t in ${probedTools.join(" ")}; do command -v "$t" >/dev/null 2>&1 && printf '%s\\t%s\\n' "$t" "$("$t" --version 2>&1 | head -n1)"; done; true`;
    p = sandbox.run({ image, argv: ["/bin/sh", "-c", script], timeoutMs: 60_000 }).then((r) => {
      if (r.code !== 0) throw new Error(`toolchain probe exited with ${r.code}: ${r.stderr.toString().trim()}`);
      return r.stdout.toString();
    });
    p.catch(() => probes.delete(key));
    probes.set(key, p);
  }
  return p;
}
