import { spawn, type ChildProcess, type SpawnOptions } from "node:child_process";

/**
 * Every child kbs starts that may itself start children (sandboxes, git, builds)
 * is spawned in its own process group and recorded here, so shutdown can kill
 * whole trees, never leaving orphans behind.
 */
const groups = new Set<number>();

export function trackGroup(pid: number | undefined): void {
  if (pid) groups.add(pid);
}

export function untrackGroup(pid: number | undefined): void {
  if (pid) groups.delete(pid);
}

/** Kill a process group; quiet when it is already gone. */
export function killGroup(pid: number | undefined, signal: NodeJS.Signals = "SIGKILL"): void {
  if (!pid) return;
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      /* already gone */
    }
  }
}

/** spawn() in a new process group, tracked until it exits. */
export function spawnGroup(cmd: string, args: readonly string[], opts: SpawnOptions = {}): ChildProcess {
  const child = spawn(cmd, args, { ...opts, detached: true });
  trackGroup(child.pid);
  child.once("exit", () => untrackGroup(child.pid));
  return child;
}

export function killAllGroups(signal: NodeJS.Signals = "SIGKILL"): number {
  const n = groups.size;
  for (const pid of groups) killGroup(pid, signal);
  groups.clear();
  return n;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: Buffer;
}

/** Run a command to completion and collect its output (bounded). */
export function run(
  cmd: string,
  args: readonly string[],
  opts: SpawnOptions & { input?: Buffer | string; maxOutput?: number; timeoutMs?: number } = {},
): Promise<RunResult> {
  const { input, maxOutput = 64 * 1024 * 1024, timeoutMs, ...spawnOpts } = opts;
  return new Promise((resolve, reject) => {
    const child = spawnGroup(cmd, args, { ...spawnOpts, stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outLen = 0;
    let errLen = 0;
    const timer = timeoutMs ? setTimeout(() => killGroup(child.pid), timeoutMs) : undefined;
    child.stdout!.on("data", (d: Buffer) => {
      outLen += d.length;
      if (outLen <= maxOutput) out.push(d);
    });
    child.stderr!.on("data", (d: Buffer) => {
      errLen += d.length;
      if (errLen <= maxOutput) err.push(d);
    });
    child.on("error", (e) => {
      if (timer) clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out), stderr: Buffer.concat(err) });
    });
    child.stdin!.on("error", () => {});
    child.stdin!.end(input);
  });
}
