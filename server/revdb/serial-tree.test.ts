import { describe, expect, it } from "vitest";
import { gitBlobId, kconfigHash, withExtras, type KconfigEntry } from "./kconfig-tree";
import { SerialTree, type TreeChange } from "./serial-tree";

const blob = (s: string) => gitBlobId(Buffer.from(s));
const extras: KconfigEntry[] = [{ path: "src/Kconfig.extra", mode: "100644", blob: blob("extra"), extra: true }];

/** A small deterministic random source, so a failure is reproducible. */
function random(seed: number): () => number {
  let x = seed;
  return () => ((x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
}

describe("SerialTree", () => {
  it("hashes as kconfigHash does, over thousands of random changes (sets, removals, an extra shadowed and uncovered, paths that sort oddly)", () => {
    const rnd = random(7);
    const names = Array.from({ length: 300 }, (_, i) => (i % 7 === 0 ? `pkg/Ä${i}/Config.in` : i % 5 === 0 ? `pkg-${i}/Config.in` : `pkg/${i}/Config.in`)).concat(["src/Kconfig.extra", "Config.in"]);
    const own = new Map<string, KconfigEntry>();
    for (const p of names.slice(0, 150)) own.set(p, { path: p, mode: "100644", blob: blob(p) });
    let tree = SerialTree.of(own.values(), extras);
    expect(tree.hash).toBe(kconfigHash(withExtras(own.values(), extras)));
    for (let commit = 0; commit < 400; commit++) {
      const changes = new Map<string, TreeChange>();
      for (let k = 0, n = 1 + Math.floor(rnd() * 6); k < n; k++) {
        const p = names[Math.floor(rnd() * names.length)]!;
        changes.set(p, rnd() < 0.3 ? [p] : [p, rnd() < 0.1 ? "100755" : "100644", blob(`${p}@${commit}`)]);
      }
      for (const [p, mode, b] of changes.values()) {
        if (mode && b) own.set(p, { path: p, mode, blob: b });
        else own.delete(p);
      }
      tree = tree.apply([...changes.values()]);
      expect(tree.hash, `commit ${commit}`).toBe(kconfigHash(withExtras(own.values(), extras)));
      expect(tree.files).toBe(withExtras(own.values(), extras).length);
    }
    expect(new Map(tree.ownEntries().map((e) => [e.path, e]))).toEqual(own);
  });

  it("changes that change nothing give the same tree", () => {
    const own = [{ path: "Kconfig", mode: "100644", blob: blob("a") }];
    const t = SerialTree.of(own, []);
    expect(t.apply([["Kconfig", "100644", blob("a")], ["missing/Kconfig"]])).toBe(t);
    expect(t.apply([["Kconfig", "100644", blob("b")]]).hash).not.toBe(t.hash);
  });
});
