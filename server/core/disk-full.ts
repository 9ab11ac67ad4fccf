import fs from "node:fs";
import { KbsError } from "./errors";

/** An error that means the disk (or the quota) is full: the OS's ENOSPC/EDQUOT, SQLite's SQLITE_FULL. */
export function isDiskFull(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return code === "ENOSPC" || code === "EDQUOT" || code === "SQLITE_FULL";
}

export function diskFullMessage(dataDir: string): string {
  return `The server's data disk is full; nothing was stored. Try again later or tell the operator (KBS_DATA_DIR at ${dataDir}).`;
}

/** The one error every part answers a full data disk with. */
export function diskFull(dataDir: string): KbsError {
  return new KbsError("disk_full", "disk_full", diskFullMessage(dataDir));
}

/** `e` as the disk_full error when it means the disk is full, else `e` itself. */
export function asDiskFull(e: unknown, dataDir: string): unknown {
  return isDiskFull(e) ? diskFull(dataDir) : e;
}

/**
 * Whether the filesystem holding `dir` has (nearly) no room left for an unprivileged
 * writer: a write that failed in a sandbox leaves no error code on the host, only this.
 */
export function lowOnSpace(dir: string, minBytes = 1024 * 1024): boolean {
  try {
    const s = fs.statfsSync(dir);
    return s.bavail * s.bsize < minBytes;
  } catch {
    return false;
  }
}
