import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { alive } from "./procs";
import type { Limits, SandboxRequest } from "./types";
import { GUEST_STUB } from "../core/guest-paths";

/** Limits a request gets unless it names its own (rlimits can only be lowered inside). */
export const DEFAULT_LIMITS: Limits = {
  cpuSeconds: 600,
  memoryBytes: 4 * 2 ** 30,
  processes: 512,
  fileSizeBytes: 2 * 2 ** 30,
  openFiles: 1024,
};
export const DEFAULT_WORK_SIZE = 1 * 2 ** 30;
export const DEFAULT_TIMEOUT_MS = 60 * 60_000;
export const DEFAULT_MAX_OUTPUT = 4 * 2 ** 20;

/** The fixed environment of every sandbox; requests add to it. */
export const BASE_ENV: Record<string, string> = {
  TERM: "xterm-256color",
  LANG: "C.UTF-8",
  HOME: "/work/.home",
  PATH: "/usr/bin:/bin",
  TMPDIR: "/tmp",
};

export function limitsOf(req: SandboxRequest): Limits {
  return { ...DEFAULT_LIMITS, ...req.limits };
}

export function envOf(req: { env?: Record<string, string> }): Record<string, string> {
  return { ...BASE_ENV, ...req.env };
}

export function newSandboxId(): string {
  return `sb-${crypto.randomBytes(6).toString("hex")}`;
}

const GUEST_PATH = /^\/[^\0]*$/;

/** Guest paths must be absolute and must not shadow what the sandbox is built from. */
export function checkGuestPath(p: string): void {
  if (!GUEST_PATH.test(p) || p.split("/").includes("..")) throw new Error(`bad guest path "${p}": must be absolute, without ".."`);
  const top = `/${p.split("/")[1]}`;
  if (["/usr", "/bin", "/lib", "/lib64", "/sbin", "/etc", "/proc", "/dev", GUEST_STUB].some((s) => p === s || top === s || p.startsWith(`${GUEST_STUB}/`))) {
    throw new Error(`bad guest path "${p}": it would replace part of the sandbox's system`);
  }
}

/** chown a tree (no symlink following) so a sandbox uid may write it. */
export function chownTree(dir: string, uid: number, gid: number): void {
  fs.lchownSync(dir, uid, gid);
  const st = fs.lstatSync(dir);
  if (!st.isDirectory()) return;
  for (const name of fs.readdirSync(dir)) chownTree(path.join(dir, name), uid, gid);
}

/** The /etc/passwd and /etc/group a sandbox sees: only root, its own user and nobody. */
export function passwdFiles(uid: number, gid: number): { passwd: string; group: string } {
  const nobody = uid === 65534 ? "" : "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
  const nogroup = gid === 65534 ? "" : "nogroup:x:65534:\n";
  return {
    passwd: `root:x:0:0:root:/nonexistent:/usr/sbin/nologin\nkbs:x:${uid}:${gid}:kbs sandbox:/work/.home:/bin/sh\n${nobody}`,
    group: `root:x:0:\nkbs:x:${gid}:\n${nogroup}`,
  };
}

const OWNER_FILE = "owner";

/** Mark a sandbox dir as this process's (see removeStaleDirs). */
export function claimDir(dir: string): void {
  fs.writeFileSync(path.join(dir, OWNER_FILE), String(process.pid));
}

/**
 * Sandbox dirs left by a kbs process that died (its sandboxes died with it). Several
 * kbs processes share a data dir, so only dirs whose owner is gone are removed.
 */
export function removeStaleDirs(root: string): void {
  for (const name of fs.readdirSync(root)) {
    const dir = path.join(root, name);
    let owner = 0;
    try {
      owner = Number(fs.readFileSync(path.join(dir, OWNER_FILE), "utf8"));
    } catch {
      /* no owner file: not finished being made, or not ours */
      continue;
    }
    if (owner && !alive(owner)) fs.rmSync(dir, { recursive: true, force: true });
  }
}
