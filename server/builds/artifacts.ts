import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { pipeline } from "node:stream/promises";

/**
 * Content-addressed build outputs: `data/artifacts/<sha256>`. Identical outputs of
 * different builds are stored once; builds refer to them by hash.
 */
export class ArtifactStore {
  readonly dir: string;

  constructor(dataDir: string) {
    this.dir = path.join(dataDir, "artifacts");
    fs.mkdirSync(this.dir, { recursive: true });
  }

  path(sha256: string): string {
    if (!/^[0-9a-f]{64}$/.test(sha256)) throw new Error(`not a sha256: ${sha256}`);
    return path.join(this.dir, sha256);
  }

  has(sha256: string): boolean {
    return fs.existsSync(this.path(sha256));
  }

  /** Hash a file while copying it in; the rename makes a half-written blob impossible. */
  async putFile(file: string): Promise<{ sha256: string; size: number }> {
    const tmp = path.join(this.dir, `.tmp-${crypto.randomBytes(6).toString("hex")}`);
    const hash = crypto.createHash("sha256");
    let size = 0;
    try {
      await pipeline(
        fs.createReadStream(file),
        async function* (source: AsyncIterable<Buffer>) {
          for await (const chunk of source) {
            hash.update(chunk);
            size += chunk.length;
            yield chunk;
          }
        },
        fs.createWriteStream(tmp),
      );
      const sha256 = hash.digest("hex");
      fs.renameSync(tmp, this.path(sha256));
      return { sha256, size };
    } finally {
      fs.rmSync(tmp, { force: true });
    }
  }

  putBuffer(data: Buffer | string): { sha256: string; size: number } {
    const buf = Buffer.isBuffer(data) ? data : Buffer.from(data);
    const sha256 = crypto.createHash("sha256").update(buf).digest("hex");
    const dest = this.path(sha256);
    if (!fs.existsSync(dest)) {
      const tmp = path.join(this.dir, `.tmp-${crypto.randomBytes(6).toString("hex")}`);
      fs.writeFileSync(tmp, buf);
      fs.renameSync(tmp, dest);
    }
    return { sha256, size: buf.length };
  }

  /** Blobs on disk with their size and age (janitor). */
  list(): Array<{ sha256: string; size: number; mtimeMs: number }> {
    return fs
      .readdirSync(this.dir)
      .filter((f) => /^[0-9a-f]{64}$/.test(f))
      .map((f) => {
        const st = fs.statSync(path.join(this.dir, f));
        return { sha256: f, size: st.size, mtimeMs: st.mtimeMs };
      });
  }

  remove(sha256: string): void {
    fs.rmSync(this.path(sha256), { force: true });
  }
}
