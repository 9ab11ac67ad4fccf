import fs from "node:fs";

/** A process seen in /proc: its pid and real uid. */
export interface ProcInfo {
  pid: number;
  uid: number;
}

/** Every process on the host with its real uid (processes that vanish mid-scan are skipped). */
export function listProcesses(): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const name of fs.readdirSync("/proc")) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    try {
      const status = fs.readFileSync(`/proc/${pid}/status`, "latin1");
      const m = /\nUid:\s+(\d+)/.exec(status);
      if (m) out.push({ pid, uid: Number(m[1]) });
    } catch {
      /* gone */
    }
  }
  return out;
}

export function pidsOfUid(uid: number): number[] {
  return listProcesses().filter((p) => p.uid === uid).map((p) => p.pid);
}

/** Descendants of `root` (not `root` itself) whose command name is `comm`. */
export function descendantsNamed(root: number, comm: string): number[] {
  const parent = new Map<number, number>();
  const name = new Map<number, string>();
  for (const entry of fs.readdirSync("/proc")) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, "latin1");
      // comm is in parentheses and may hold spaces: the fields resume after the last ')'.
      const close = stat.lastIndexOf(")");
      name.set(pid, stat.slice(stat.indexOf("(") + 1, close));
      parent.set(pid, Number(stat.slice(close + 2).split(" ")[1]));
    } catch {
      /* gone */
    }
  }
  const isDescendant = (pid: number): boolean => {
    for (let p = parent.get(pid); p !== undefined && p > 1; p = parent.get(p)) if (p === root) return true;
    return false;
  };
  return [...name].filter(([pid, c]) => c === comm && isDescendant(pid)).map(([pid]) => pid);
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Wait until `gone()` holds; every `killEvery` ms call `kill()` again (a process
 * caught mid-fork may have started a child after the first signal).
 */
export async function waitGone(gone: () => boolean, kill: () => void, timeoutMs = 10_000): Promise<boolean> {
  const start = Date.now();
  let lastKill = start;
  while (!gone()) {
    if (Date.now() - start > timeoutMs) return false;
    await sleep(15);
    if (Date.now() - lastKill > 200) {
      kill();
      lastKill = Date.now();
    }
  }
  return true;
}
