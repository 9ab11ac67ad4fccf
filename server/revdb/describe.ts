/**
 * `git describe --always --tags`, computed in-process for many commits at once.
 * git has no batch mode that stays fast over 20,000 commits, so this is a faithful
 * port of git's builtin/describe.c (v2.39): the same date-ordered walk, the same
 * 10-candidate limit, the same tie-breaks and the same depth computation — the
 * tests compare it with real `git describe` on every commit of fixture repos.
 */
export interface DescribeCommit {
  parents: string[];
  /** committer date, seconds */
  date: number;
  /** git's unique abbreviation (%h) */
  abbrev: string;
}

export interface DescribeTag {
  /** the name git prints: the embedded name for annotated tags, else the ref name (without the project prefix) */
  name: string;
  /** the full ref name, for git's iteration order */
  refname: string;
  commit: string;
  annotated: boolean;
  taggerDate: number;
}

interface CommitName {
  name: string;
  prio: 1 | 2;
  taggerDate: number;
}

interface Candidate {
  name: CommitName;
  depth: number;
  foundOrder: number;
  flagWithin: number;
}

interface Item {
  sha: string;
  date: number;
}

const SEEN = 1;
const MAX_CANDIDATES = 10;

export class Describer {
  private names = new Map<string, CommitName>();

  constructor(
    private getCommit: (sha: string) => DescribeCommit | undefined,
    tags: DescribeTag[],
  ) {
    // git iterates refs sorted by name; the first of equal priority wins, except that a
    // newer annotated tag replaces an older one on the same commit.
    for (const t of [...tags].sort((a, b) => (a.refname < b.refname ? -1 : a.refname > b.refname ? 1 : 0))) {
      const prio = t.annotated ? 2 : 1;
      const e = this.names.get(t.commit);
      const replace = !e || e.prio < prio || (e.prio === 2 && prio === 2 && e.taggerDate < t.taggerDate);
      if (replace) this.names.set(t.commit, { name: t.name, prio, taggerDate: t.taggerDate });
    }
  }

  describe(sha: string): string {
    const exact = this.names.get(sha);
    if (exact) return exact.name;
    const start = this.getCommit(sha);
    if (!start) throw new Error(`describe: unknown commit ${sha}`);
    const flags = new Map<string, number>([[sha, SEEN]]);
    const list: Item[] = [{ sha, date: start.date }];
    const matches: Candidate[] = [];
    let annotated = 0;
    let gaveUpOn: Item | undefined;
    let seen = 0;
    while (list.length) {
      const c = list.shift()!;
      seen++;
      const n = this.names.get(c.sha);
      if (n) {
        if (matches.length < MAX_CANDIDATES) {
          const order = matches.length + 1;
          const t: Candidate = { name: n, depth: seen - 1, foundOrder: order, flagWithin: 1 << order };
          matches.push(t);
          flags.set(c.sha, flags.get(c.sha)! | t.flagWithin);
          if (n.prio === 2) annotated++;
        } else {
          gaveUpOn = c;
          break;
        }
      }
      const cf = flags.get(c.sha)!;
      for (const t of matches) if (!(cf & t.flagWithin)) t.depth++;
      if (annotated && !list.length) break;
      this.addParents(c, list, flags);
    }
    if (!matches.length) return start.abbrev;
    matches.sort((a, b) => a.depth - b.depth || a.foundOrder - b.foundOrder);
    const best = matches[0]!;
    if (gaveUpOn) insertByDate(list, gaveUpOn);
    this.finishDepth(list, best, flags);
    return `${best.name.name}-${best.depth}-g${start.abbrev}`;
  }

  private addParents(c: Item, list: Item[], flags: Map<string, number>): void {
    const cf = flags.get(c.sha)!;
    for (const p of this.getCommit(c.sha)?.parents ?? []) {
      const pf = flags.get(p) ?? 0;
      if (!(pf & SEEN)) {
        const pc = this.getCommit(p);
        if (pc) insertByDate(list, { sha: p, date: pc.date });
      }
      flags.set(p, pf | cf);
    }
  }

  private finishDepth(list: Item[], best: Candidate, flags: Map<string, number>): void {
    while (list.length) {
      const c = list.shift()!;
      if (flags.get(c.sha)! & best.flagWithin) {
        if (list.every((i) => flags.get(i.sha)! & best.flagWithin)) break;
      } else best.depth++;
      this.addParents(c, list, flags);
    }
  }
}

/** git's commit_list_insert_by_date: after every entry not older (FIFO among equal dates). */
function insertByDate(list: Item[], item: Item): void {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (list[mid]!.date < item.date) hi = mid;
    else lo = mid + 1;
  }
  list.splice(lo, 0, item);
}
