import fs from "node:fs";

/** One process as /proc shows it. */
export interface Proc {
  pid: number;
  ppid: number;
  /** Start time in clock ticks since boot: with the pid, names a process even after pid reuse. */
  start: number;
  rssKB: number;
  /** User + system CPU time so far, in clock ticks (USER_HZ, 100 a second on Linux). */
  cpuTicks: number;
  comm: string;
}

function readProc(pid: number): Proc | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "latin1");
    // comm is in parentheses and may hold spaces or parentheses: split after the last ')'.
    const close = stat.lastIndexOf(")");
    const comm = stat.slice(stat.indexOf("(") + 1, close);
    const f = stat.slice(close + 2).split(" ");
    const rssPages = Number(f[21]);
    return { pid, ppid: Number(f[1]), start: Number(f[19]), rssKB: (rssPages * 4096) / 1024, cpuTicks: Number(f[11]) + Number(f[12]), comm };
  } catch {
    return undefined;
  }
}

export function allProcs(): Proc[] {
  const out: Proc[] = [];
  for (const name of fs.readdirSync("/proc")) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    const p = readProc(pid);
    if (p) out.push(p);
  }
  return out;
}

/** `root` and all its descendants (by parent pid) as they are now. */
export function processTree(root: number): Proc[] {
  const procs = allProcs();
  const children = new Map<number, Proc[]>();
  for (const p of procs) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p]);
  const self = procs.find((p) => p.pid === root);
  if (!self) return [];
  const out: Proc[] = [];
  const stack = [self];
  while (stack.length) {
    const p = stack.pop()!;
    out.push(p);
    stack.push(...(children.get(p.pid) ?? []));
  }
  return out;
}

/** Those of `procs` still running (same pid and start time): orphans after their parent died. */
export function survivors(procs: readonly Proc[]): Proc[] {
  return procs.filter((p) => {
    const now = readProc(p.pid);
    return now !== undefined && now.start === p.start;
  });
}

/** Resident memory of a process tree, in MB (RSS summed: shared pages count more than once). */
export function treeRssMB(root: number): { rootMB: number; treeMB: number; processes: number } {
  const tree = processTree(root);
  const mb = (kb: number) => Math.round((kb / 1024) * 10) / 10;
  return { rootMB: mb(tree[0]?.rssKB ?? 0), treeMB: mb(tree.reduce((s, p) => s + p.rssKB, 0)), processes: tree.length };
}

/** CPU time (user + system, ms) the processes of a tree have used so far; exited ones are not counted. */
export function treeCpuMs(root: number): number {
  return processTree(root).reduce((s, p) => s + p.cpuTicks, 0) * 10;
}
