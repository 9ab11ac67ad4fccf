import fs from "node:fs";
import path from "node:path";
import type { ArtifactStore } from "./artifacts";
import type { BuildLogs } from "./logs";
import type { BuildStore } from "./store";

export interface JanitorPolicy {
  keepDays: number;
  budgetBytes: number;
  /** Unreferenced blobs and logs younger than this are left alone (a build may be storing them). */
  graceMs: number;
  now?: number;
}

/**
 * Expires finished builds (their artifacts and logs) past the age limit, then the oldest
 * ones until what is left fits the disk budget; pinned builds (viewed through a share
 * link, or pinned on request) are kept whole. Expired builds are no longer cache hits.
 * Blobs no live build refers to are then deleted.
 */
export function runJanitor(store: BuildStore, artifacts: ArtifactStore, logs: BuildLogs, p: JanitorPolicy) {
  const now = p.now ?? Date.now();
  const cutoff = now - p.keepDays * 86_400_000;
  const blobs = new Map(artifacts.list().map((b) => [b.sha256, b]));
  const logSizes = new Map(logs.list().map((l) => [l.id, l.size]));
  const candidates = store.expirable();
  // References per blob, to know what expiring a candidate frees; kept builds' blobs never are.
  const refs = new Map<string, number>();
  for (const h of store.referencedHashes(true)) refs.set(h, Infinity);
  for (const c of candidates) for (const a of c.artifacts) refs.set(a.sha256, (refs.get(a.sha256) ?? 0) + 1);
  let used = [...refs.keys()].reduce((n, h) => n + (blobs.get(h)?.size ?? 0), 0) + [...logSizes.values()].reduce((a, b) => a + b, 0);

  let expired = 0;
  for (const c of candidates) {
    const old = Date.parse(c.finishedAt) < cutoff;
    if (!old && used <= p.budgetBytes) break;
    store.expire(c.id);
    logs.remove(c.id);
    used -= logSizes.get(c.id) ?? 0;
    for (const a of c.artifacts) {
      const n = (refs.get(a.sha256) ?? 1) - 1; // Infinity - 1 stays Infinity
      refs.set(a.sha256, n);
      if (n === 0) used -= blobs.get(a.sha256)?.size ?? 0;
    }
    expired++;
  }

  const live = store.referencedHashes();
  let removed = 0;
  let freed = 0;
  for (const b of blobs.values()) {
    if (live.has(b.sha256) || now - b.mtimeMs < p.graceMs) continue;
    artifacts.remove(b.sha256);
    removed++;
    freed += b.size;
  }
  return { expired, removedBlobs: removed, freedBytes: freed };
}

/** Work dirs of build attempts whose process died before cleaning up (a running one is never this old). */
export function removeStaleWorkDirs(dir: string, olderThanMs: number, now = Date.now()): number {
  let n = 0;
  for (const name of fs.existsSync(dir) ? fs.readdirSync(dir) : []) {
    const p = path.join(dir, name);
    if (now - fs.statSync(p).mtimeMs < olderThanMs) continue;
    fs.rmSync(p, { recursive: true, force: true });
    n++;
  }
  return n;
}
