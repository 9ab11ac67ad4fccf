import fs from "node:fs";

const PAGE_KB = 4;

/**
 * Resident memory of a process and all its descendants (MB), from /proc: what a primed
 * session holds (the sandbox, its shell and the frontend). Processes that vanish mid-scan
 * are skipped; undefined when `root` is gone.
 */
export function processTreeRssMB(root: number): number | undefined {
  const children = new Map<number, number[]>();
  const rssKB = new Map<number, number>();
  for (const entry of fs.readdirSync("/proc")) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, "latin1");
      // comm is in parentheses and may hold spaces: the fields resume after the last ')'.
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const ppid = Number(fields[1]);
      // Field 24 of stat (rss, in pages) is the 22nd after comm.
      rssKB.set(pid, Number(fields[21]) * PAGE_KB);
      const list = children.get(ppid);
      if (list) list.push(pid);
      else children.set(ppid, [pid]);
    } catch {
      /* gone */
    }
  }
  if (!rssKB.has(root)) return undefined;
  let kb = 0;
  const todo = [root];
  while (todo.length) {
    const pid = todo.pop()!;
    kb += rssKB.get(pid) ?? 0;
    todo.push(...(children.get(pid) ?? []));
  }
  return kb / 1024;
}
