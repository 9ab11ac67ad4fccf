import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { claimDir, removeStaleDirs } from "./common";

/**
 * Where the host dirs handed to sandboxes are made (their /kbs/in, a session's /kbs/out).
 * A sandbox can read its bind sources' host paths in /proc/self/mountinfo, so they sit
 * under a neutral root (`KBS_STAGING_DIR`, default /run/kbs as root) that says nothing of
 * the data dir, under random names. Several kbs processes may share the root: each claims
 * its dirs, and dirs of a process that died are removed.
 */
export class Staging {
  private static cleaned = new Set<string>();

  constructor(readonly root: string) {
    fs.mkdirSync(root, { recursive: true, mode: 0o755 });
    fs.chmodSync(root, 0o755);
    if (!Staging.cleaned.has(root)) {
      Staging.cleaned.add(root);
      removeStaleDirs(root);
    }
  }

  /** A new empty dir (mode 0755, this process's), removed by `remove`. */
  make(): { dir: string; remove(): void } {
    const dir = path.join(this.root, `sb-${crypto.randomBytes(9).toString("base64url")}`);
    fs.mkdirSync(dir, { mode: 0o755 });
    claimDir(dir);
    // The owner mark is kbs's bookkeeping, not something to hand in.
    const content = path.join(dir, "d");
    fs.mkdirSync(content, { mode: 0o755 });
    return { dir: content, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
  }
}
