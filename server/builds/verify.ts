import fs from "node:fs";
import type { ArtifactStore } from "./artifacts";
import type { Finish } from "./store";
import type { ArtifactRef, Verification } from "./types";

/**
 * Rebuild and compare (reproducible-builds.org's rebuilders, for every recipe): a succeeded
 * build is built again from the same key on a fresh work tree without ccache, and every
 * artifact the recipe produced is compared by sha256; for each one that differs, the first
 * byte offset where the two files part. The build's own manifest.json and reproduce.sh name
 * the build and its times, so they are not compared.
 */
const notCompared = new Set(["manifest.json", "reproduce.sh"]);

/** The first offset where two files differ; the shorter one's length when one is a prefix of the other; null when equal. */
export function firstDifference(a: string, b: string): number | null {
  const fa = fs.openSync(a, "r");
  const fb = fs.openSync(b, "r");
  try {
    const size = 1 << 16;
    const ba = Buffer.alloc(size);
    const bb = Buffer.alloc(size);
    for (let pos = 0; ; ) {
      const na = fs.readSync(fa, ba, 0, size, pos);
      const nb = fs.readSync(fb, bb, 0, size, pos);
      const n = Math.min(na, nb);
      for (let i = 0; i < n; i++) if (ba[i] !== bb[i]) return pos + i;
      if (na !== nb) return pos + n;
      if (na === 0) return null;
      pos += n;
    }
  } finally {
    fs.closeSync(fa);
    fs.closeSync(fb);
  }
}

/** The verification a finished rebuild gives, against the build's artifacts. */
export function compareRebuild(store: ArtifactStore, original: ArtifactRef[], rebuilt: Finish, startedAt: string): Verification {
  const finishedAt = new Date().toISOString();
  if (rebuilt.state !== "succeeded") {
    const why = `The rebuild ${rebuilt.state.replace("_", " ")}${rebuilt.failedStep ? ` at step '${rebuilt.failedStep}'` : ""}: ${(rebuilt.errorSummary ?? "").split("\n")[0]}`;
    return { state: "failed", reproducible: null, differences: [], error: why, startedAt, finishedAt };
  }
  const again = new Map((rebuilt.artifacts ?? []).map((a) => [a.name, a]));
  const differences: Verification["differences"] = [];
  for (const a of original.filter((x) => !notCompared.has(x.name))) {
    const b = again.get(a.name);
    if (b?.sha256 === a.sha256) continue;
    const offset = b && store.has(a.sha256) && store.has(b.sha256) ? firstDifference(store.path(a.sha256), store.path(b.sha256)) : null;
    differences.push({ name: a.name, offset, sha256: a.sha256, rebuiltSha256: b?.sha256 ?? null });
  }
  // An artifact only the rebuild made differs too.
  const names = new Set(original.map((a) => a.name));
  for (const b of again.values()) if (!names.has(b.name) && !notCompared.has(b.name)) differences.push({ name: b.name, offset: null, sha256: null, rebuiltSha256: b.sha256 });
  return { state: "done", reproducible: differences.length === 0, differences, error: null, startedAt, finishedAt };
}
