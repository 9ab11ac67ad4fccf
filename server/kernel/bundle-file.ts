import { run } from "../core/proc";

/** One file's text from a kconfig bundle tar (its entries may carry a leading "./"), or undefined. */
export async function readBundleFile(tarPath: string, file: string): Promise<string | undefined> {
  for (const name of [file, `./${file}`]) {
    const r = await run("tar", ["-xOf", tarPath, name], { timeoutMs: 30_000 });
    if (r.code === 0) return r.stdout.toString("utf8");
  }
  return undefined;
}
