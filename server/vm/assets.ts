import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { parseVmManifest, VM_MANIFEST, type VmManifest } from "./manifest";

/**
 * Where a VM build's files come from: a kbs data dir's artifact store, or a kbs
 * server over HTTP. Either way every file is copied into a directory of ours and
 * hashed on the way, then checked against what vouches for it, before QEMU sees it.
 */
export interface AssetSource {
  /** What the source is, for messages. */
  readonly label: string;
  /** The build's artifacts as its record lists them (name -> sha256). */
  artifacts(): Promise<Map<string, string>>;
  /** Copy one artifact into `dest`; resolves with the sha256 of the bytes written. */
  fetch(name: string, dest: string): Promise<string>;
}

export class AssetMismatchError extends Error {}

/** Copy a stream to a file, hashing it. */
export async function copyHashed(from: Readable, dest: string): Promise<string> {
  const hash = crypto.createHash("sha256");
  await pipeline(
    from,
    async function* (source: AsyncIterable<Buffer>) {
      for await (const chunk of source) {
        hash.update(chunk);
        yield chunk;
      }
    },
    fs.createWriteStream(dest),
  );
  return hash.digest("hex");
}

/** A build in a local data dir: `file(name)` is the stored blob of that artifact. */
export function storeSource(label: string, artifacts: Array<{ name: string; sha256: string }>, file: (name: string) => string): AssetSource {
  return {
    label,
    artifacts: async () => new Map(artifacts.map((a) => [a.name, a.sha256])),
    fetch: (name, dest) => copyHashed(fs.createReadStream(file(name)), dest),
  };
}

/** A build on a kbs server: GET /api/builds/:id and its artifact URLs. */
export function httpSource(baseUrl: string, buildId: string): AssetSource {
  const base = baseUrl.replace(/\/+$/, "");
  const buildUrl = `${base}/api/builds/${encodeURIComponent(buildId)}`;
  const get = async (url: string) => {
    const res = await fetch(url);
    if (!res.ok) {
      const body = await res.text().catch(() => "");
      let msg = body.slice(0, 300);
      try {
        msg = (JSON.parse(body) as { error: { message: string } }).error.message;
      } catch {
        /* not a kbs error body */
      }
      throw new Error(`GET ${url}: ${res.status} ${msg}`);
    }
    return res;
  };
  return {
    label: buildUrl,
    artifacts: async () => {
      const view = (await (await get(buildUrl)).json()) as { state: string; artifacts: Array<{ name: string; sha256: string }> };
      if (view.state !== "succeeded") throw new Error(`build ${buildId} is ${view.state}, not succeeded: there is no image to boot`);
      return new Map(view.artifacts.map((a) => [a.name, a.sha256]));
    },
    fetch: async (name, dest) => {
      const res = await get(`${buildUrl}/artifacts/${encodeURIComponent(name)}`);
      if (!res.body) throw new Error(`GET ${name}: empty response`);
      return copyHashed(Readable.fromWeb(res.body as import("node:stream/web").ReadableStream), dest);
    },
  };
}

function check(name: string, got: string, want: string, vouchedBy: string): void {
  if (got !== want) {
    throw new AssetMismatchError(`refusing to boot: ${name} has sha256 ${got}, but ${vouchedBy} says ${want}. The file was changed or damaged; rebuild it or fetch it again.`);
  }
}

/**
 * Fetch the VM manifest and every asset into `dir`, verifying the manifest against
 * the build record and each asset (sha256 and size) against the manifest.
 */
export async function fetchVerified(source: AssetSource, dir: string): Promise<VmManifest> {
  const listed = await source.artifacts();
  const manifestSha = listed.get(VM_MANIFEST);
  if (!manifestSha) {
    throw new Error(`${source.label} has no ${VM_MANIFEST}: it is not a VM image build (artifacts: ${[...listed.keys()].join(", ") || "none"})`);
  }
  fs.mkdirSync(dir, { recursive: true });
  const manifestFile = path.join(dir, VM_MANIFEST);
  check(VM_MANIFEST, await source.fetch(VM_MANIFEST, manifestFile), manifestSha, "the build record");
  const manifest = parseVmManifest(fs.readFileSync(manifestFile, "utf8"), `${source.label} ${VM_MANIFEST}`);
  for (const asset of manifest.assets) {
    if (!listed.has(asset.name)) throw new Error(`${source.label} has no artifact ${asset.name}, which ${VM_MANIFEST} lists`);
    const dest = path.join(dir, asset.name);
    check(asset.name, await source.fetch(asset.name, dest), asset.sha256, VM_MANIFEST);
    const size = fs.statSync(dest).size;
    if (size !== asset.size) throw new AssetMismatchError(`refusing to boot: ${asset.name} is ${size} bytes, but ${VM_MANIFEST} says ${asset.size}`);
  }
  return manifest;
}
