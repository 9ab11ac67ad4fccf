import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { alive, listProcesses } from "./procs";

/**
 * Host uids for sandboxes when kbs runs as root: one uid per live sandbox, so
 * RLIMIT_NPROC counts only that sandbox's processes (a fork bomb hits its own
 * ceiling) and no sandbox can signal or ptrace another. Allocation is shared by
 * every kbs process on the machine through lock files holding the owner's pid;
 * a uid whose owner died, or that still has processes, is not handed out again
 * until it is clean.
 */
export class UidAllocator {
  private readonly lockDir: string;
  private next: number;

  constructor(readonly base: number, readonly count: number, lockDir?: string) {
    this.lockDir = lockDir ?? (fs.existsSync("/run") && isWritable("/run") ? "/run/kbs-sandbox-uids" : path.join(os.tmpdir(), "kbs-sandbox-uids"));
    fs.mkdirSync(this.lockDir, { recursive: true, mode: 0o700 });
    this.next = Math.floor(Math.random() * count);
  }

  allocate(): number {
    const busy = new Set(listProcesses().map((p) => p.uid));
    for (let i = 0; i < this.count; i++) {
      const uid = this.base + ((this.next + i) % this.count);
      if (busy.has(uid)) continue;
      if (this.tryLock(uid)) {
        this.next = (this.next + i + 1) % this.count;
        return uid;
      }
    }
    throw new Error(`no free sandbox uid in ${this.base}..${this.base + this.count - 1}; raise KBS_SANDBOX_UID_COUNT`);
  }

  release(uid: number): void {
    try {
      if (fs.readFileSync(this.lockFile(uid), "utf8") === String(process.pid)) fs.unlinkSync(this.lockFile(uid));
    } catch {
      /* already released */
    }
  }

  private lockFile(uid: number): string {
    return path.join(this.lockDir, String(uid));
  }

  private tryLock(uid: number): boolean {
    const file = this.lockFile(uid);
    try {
      fs.writeFileSync(file, String(process.pid), { flag: "wx" });
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
    // Taken: reclaim it only when its owner is dead (its sandboxes died with it).
    let owner = 0;
    try {
      owner = Number(fs.readFileSync(file, "utf8"));
    } catch {
      return false;
    }
    if (owner && alive(owner)) return false;
    try {
      fs.unlinkSync(file);
      fs.writeFileSync(file, String(process.pid), { flag: "wx" });
      return true;
    } catch {
      return false;
    }
  }
}

function isWritable(dir: string): boolean {
  try {
    fs.accessSync(dir, fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}
