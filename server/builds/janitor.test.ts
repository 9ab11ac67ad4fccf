import fs from "node:fs";
import { describe, expect, it } from "vitest";
import { openDb } from "../core/db";
import { tmpDir } from "../../test/helpers/tmp";
import { ArtifactStore } from "./artifacts";
import { runJanitor } from "./janitor";
import { BuildLogs } from "./logs";
import { BuildStore } from "./store";

const DAY = 86_400_000;

/** A finished build whose one artifact holds `content`, finished `ageDays` ago. */
function finished(store: BuildStore, artifacts: ArtifactStore, logs: BuildLogs, key: string, content: string, ageDays: number, now: number) {
  const b = store.createOrJoin(
    { key, project: "demo", rev: "v1", commit: "a".repeat(40), describe: "v1", configId: "c".repeat(64), recipe: "kconfiglib", recipeVersion: 1, image: "i", client: "t" },
    { queueMax: 100, clientMax: 100, retryAfter: () => 1 },
  ).build;
  const attempt = store.claim(b.id, "w")!;
  const blob = artifacts.putBuffer(content);
  fs.writeFileSync(logs.path(b.id), `log of ${key}\n`);
  store.finish(b.id, attempt, { state: "succeeded", artifacts: [{ name: "x.bin", ...blob }] });
  // Backdate the finish (the janitor compares finished_at with its clock).
  (store as unknown as { db: import("../core/db").Db }).db.prepare("UPDATE builds SET finished_at = ? WHERE id = ?").run(new Date(now - ageDays * DAY).toISOString(), b.id);
  return { id: b.id, sha256: blob.sha256 };
}

describe("build janitor", () => {
  it("expires old builds, then the oldest until the budget holds, keeps pinned ones, and deletes unreferenced blobs", () => {
    const dir = tmpDir();
    const store = new BuildStore(openDb(dir));
    const artifacts = new ArtifactStore(dir);
    const logs = new BuildLogs(dir);
    const now = Date.now();
    const old = finished(store, artifacts, logs, "old", "A".repeat(1000), 40, now);
    const pinned = finished(store, artifacts, logs, "pinned", "B".repeat(1000), 50, now);
    store.pin(pinned.id);
    const mid = finished(store, artifacts, logs, "mid", "C".repeat(1000), 5, now);
    const fresh = finished(store, artifacts, logs, "fresh", "D".repeat(1000), 1, now);
    const shared = finished(store, artifacts, logs, "shared", "D".repeat(1000), 0, now); // same blob as fresh

    // Budget for the pinned build, one more blob and the logs: the age rule drops `old`, the budget drops `mid`.
    const r = runJanitor(store, artifacts, logs, { keepDays: 30, budgetBytes: 2200, graceMs: 0, now: now + 1000 });
    expect(r.expired).toBe(2);
    expect(store.get(old.id)!.expired).toBe(true);
    expect(store.get(mid.id)!.expired).toBe(true);
    expect(store.get(pinned.id)!.expired).toBe(false);
    expect(store.get(fresh.id)!.expired).toBe(false);
    expect(artifacts.has(old.sha256)).toBe(false);
    expect(artifacts.has(mid.sha256)).toBe(false);
    expect(artifacts.has(pinned.sha256)).toBe(true);
    expect(artifacts.has(shared.sha256)).toBe(true);
    expect(fs.existsSync(logs.path(old.id))).toBe(false);
    expect(fs.existsSync(logs.path(pinned.id))).toBe(true);

    // An expired build is no longer a cache hit: the same key builds again.
    const again = store.createOrJoin(
      { key: "old", project: "demo", rev: "v1", commit: "a".repeat(40), describe: "v1", configId: "c".repeat(64), recipe: "kconfiglib", recipeVersion: 1, image: "i", client: "t" },
      { queueMax: 100, clientMax: 100, retryAfter: () => 1 },
    );
    expect(again.outcome).toBe("created");
  });
});
