import { describe, expect, it } from "vitest";
import { openDb } from "../core/db";
import { tmpDir } from "../../test/helpers/tmp";
import { gitBlobId, kconfigHash, withExtras, type KconfigEntry } from "./kconfig-tree";
import { migrateRevdb } from "./schema";
import { SerialTree, type TreeChange } from "./serial-tree";
import { MAX_DEPTH, readTree, snapshot, storedDepth, writeTree } from "./tree-store";

describe("tree store", () => {
  it("reads back every tree of a history stored as deltas, across several snapshots, extras included", () => {
    const db = openDb(tmpDir());
    migrateRevdb(db);
    const extras: KconfigEntry[] = [{ path: "Kconfig.extra", mode: "100644", blob: gitBlobId(Buffer.from("x")), extra: true }];
    const own = new Map<string, KconfigEntry>([["Kconfig", { path: "Kconfig", mode: "100644", blob: gitBlobId(Buffer.from("0")) }]]);
    let tree = SerialTree.of(own.values(), extras);
    writeTree(db, snapshot(tree.hash, tree.ownEntries(), extras));
    let depth = 0;
    const hashes: Array<[string, KconfigEntry[]]> = [];
    for (let i = 1; i <= MAX_DEPTH * 3; i++) {
      const change: TreeChange[] = i % 10 === 0 ? [["Kconfig.extra", "100644", gitBlobId(Buffer.from(`own ${i}`))]] : i % 10 === 1 && i > 1 ? [["Kconfig.extra"]] : [[`dir/${i % 17}/Kconfig`, "100644", gitBlobId(Buffer.from(String(i)))]];
      for (const [p, mode, blob] of change) {
        if (mode && blob) own.set(p, { path: p, mode, blob });
        else own.delete(p);
      }
      const base = tree;
      tree = tree.apply(change);
      depth = depth + 1 > MAX_DEPTH ? 0 : depth + 1;
      writeTree(db, depth === 0 ? snapshot(tree.hash, tree.ownEntries(), extras) : { hash: tree.hash, base: base.hash, depth, body: change, files: tree.files });
      hashes.push([tree.hash, withExtras(own.values(), extras)]);
    }
    for (const [hash, entries] of hashes) {
      expect(kconfigHash(entries)).toBe(hash);
      expect(readTree(db, hash)).toEqual(entries);
    }
    expect(storedDepth(db, hashes.at(-1)![0])).toBeLessThanOrEqual(MAX_DEPTH);
    expect(readTree(db, "0".repeat(64))).toBeUndefined();
    db.close();
  });
});
