import path from "node:path";
import { describe, expect, it } from "vitest";
import { cycles, importGraph } from "./import-graph";

/**
 * The layer walls themselves are ESLint rules (eslint.config.mjs, `no-restricted-imports`);
 * what a per-file rule cannot see is a circle, so the whole graph is checked here.
 */
const root = path.resolve(import.meta.dirname, "..");

describe("the import graph", () => {
  it("has no cycles in the product, the browser side or the shared contracts", () => {
    const graph = importGraph(root, ["server", "contracts", "components", "app", "bench", "test"]);
    expect(graph.size).toBeGreaterThan(100);
    expect(cycles(graph).map((c) => c.join(" <-> "))).toEqual([]);
  });

  it("finds a cycle when there is one (the check can fail)", () => {
    const graph = new Map([
      ["a.ts", ["b.ts"]],
      ["b.ts", ["c.ts"]],
      ["c.ts", ["a.ts"]],
      ["d.ts", ["a.ts"]],
    ]);
    expect(cycles(graph)).toEqual([["a.ts", "b.ts", "c.ts"]]);
  });
});
