import crypto from "node:crypto";
import { byPath, type KconfigEntry } from "./kconfig-tree";

/** A change a commit makes to the tree's own kconfig files: set (mode, blob) or, without them, removed. */
export type TreeChange = [path: string, mode?: string, blob?: string];

/**
 * A kconfig tree as the indexer walks history with it: the sorted lines that
 * `kconfigHash` hashes (`mode blob path\n`, the tree's own files plus the recipe's
 * extras where the tree lacks them), kept serialized in one buffer with each line's
 * offset. A commit's changes make the next tree by copying the unchanged runs of
 * lines, so the cost of a commit is one copy and one sha256 of the buffer, not a
 * sort and a hash line by line of thousands of entries (Buildroot has ~4,000).
 */
export class SerialTree {
  private constructor(
    /** Sorted as `byPath` sorts. */
    private readonly paths: string[],
    /** Start of each path's line in `buf`; one more at the end. */
    private readonly offsets: Int32Array,
    private readonly buf: Buffer,
    /** Which paths are the recipe's extras (no file of the tree's own there). */
    private readonly extraPaths: ReadonlySet<string>,
    private readonly extras: ReadonlyMap<string, KconfigEntry>,
    readonly hash: string,
  ) {}

  /** The tree from its own entries and the recipe's extras. */
  static of(own: Iterable<KconfigEntry>, extras: KconfigEntry[]): SerialTree {
    const all = new Map<string, KconfigEntry>();
    for (const x of extras) all.set(x.path, x);
    const extraPaths = new Set(all.keys());
    for (const e of own) {
      all.set(e.path, e);
      extraPaths.delete(e.path);
    }
    const sorted = [...all.values()].sort(byPath);
    const lines = sorted.map(line);
    const offsets = new Int32Array(sorted.length + 1);
    for (let i = 0; i < lines.length; i++) offsets[i + 1] = offsets[i]! + lines[i]!.length;
    const buf = Buffer.concat(lines);
    return new SerialTree(
      sorted.map((e) => e.path),
      offsets,
      buf,
      extraPaths,
      new Map(extras.map((x) => [x.path, x])),
      sha256(buf),
    );
  }

  get files(): number {
    return this.paths.length;
  }

  /** The tree after `changes` (a path at most once); this tree when they change nothing. */
  apply(changes: TreeChange[]): SerialTree {
    const sorted = [...changes].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    const paths: string[] = [];
    const offsets: number[] = [0];
    const pieces: Buffer[] = [];
    const extraPaths = new Set(this.extraPaths);
    let changed = false;
    let i = 0; // next unconsumed line of this tree
    let runStart = 0; // first line of the current run copied as is
    let size = 0;
    const keepRun = (end: number) => {
      if (end <= runStart) return;
      pieces.push(this.buf.subarray(this.offsets[runStart]!, this.offsets[end]!));
      for (let k = runStart; k < end; k++) {
        paths.push(this.paths[k]!);
        size += this.offsets[k + 1]! - this.offsets[k]!;
        offsets.push(size);
      }
    };
    const emit = (text: Buffer, p: string) => {
      pieces.push(text);
      paths.push(p);
      size += text.length;
      offsets.push(size);
    };
    for (const [p, mode, blob] of sorted) {
      const at = this.lowerBound(p, i);
      keepRun(at);
      const present = at < this.paths.length && this.paths[at] === p;
      const extra = this.extras.get(p);
      // What the path holds after the change: the tree's file, else the recipe's extra, else nothing.
      const next = mode && blob ? line({ path: p, mode, blob }) : extra ? line(extra) : undefined;
      if (mode && blob) extraPaths.delete(p);
      else if (extra) extraPaths.add(p);
      const before = present ? this.buf.subarray(this.offsets[at]!, this.offsets[at + 1]!) : undefined;
      if (next) emit(next, p);
      if (!(before && next && before.equals(next)) && (before || next)) changed = true;
      i = present ? at + 1 : at;
      runStart = i;
    }
    if (!changed) return this;
    keepRun(this.paths.length);
    const buf = Buffer.concat(pieces, size);
    return new SerialTree(paths, Int32Array.from(offsets), buf, extraPaths, this.extras, sha256(buf));
  }

  /** The tree's own entries (no extras). */
  ownEntries(): KconfigEntry[] {
    const out: KconfigEntry[] = [];
    for (let k = 0; k < this.paths.length; k++) {
      if (this.extraPaths.has(this.paths[k]!)) continue;
      const text = this.buf.toString("utf8", this.offsets[k]!, this.offsets[k + 1]! - 1);
      const s1 = text.indexOf(" ");
      const s2 = text.indexOf(" ", s1 + 1);
      out.push({ mode: text.slice(0, s1), blob: text.slice(s1 + 1, s2), path: text.slice(s2 + 1) });
    }
    return out;
  }

  /** The first line at or after `from` whose path is not below `p`. */
  private lowerBound(p: string, from: number): number {
    let lo = from;
    let hi = this.paths.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.paths[mid]! < p) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/** The line `kconfigHash` hashes for an entry. */
function line(e: KconfigEntry): Buffer {
  return Buffer.from(`${e.mode} ${e.blob} ${e.path}\n`);
}

function sha256(buf: Buffer): string {
  return crypto.createHash("sha256").update(buf).digest("hex");
}
