import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";

/**
 * Write a file whole or not at all: into a temporary file beside it, then renamed over
 * it. A write that fails (a full disk) leaves the old file as it was and no half file.
 * What is not a plain file (a device such as /dev/stdout, a symlink) is written in place.
 */
export function writeFileAtomic(file: string, data: string | Buffer): void {
  const st = fs.lstatSync(file, { throwIfNoEntry: false });
  if (st && !st.isFile()) return fs.writeFileSync(file, data);
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.tmp-${crypto.randomBytes(6).toString("hex")}`);
  try {
    fs.writeFileSync(tmp, data);
    fs.renameSync(tmp, file);
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}
