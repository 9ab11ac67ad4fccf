import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { svgChart } from "./chart";
import { markdownTable, textTable } from "./report";
import { runBench, summarise } from "./runner";
import { stats } from "./stats";
import { parseTarget } from "./target";
import { LINUX_6_1_SIZE, writeLinuxSizedTree } from "../test/fixtures/fake-linux";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

describe("stats", () => {
  it("gives min, median and nearest-rank p95", () => {
    expect(stats([5, 1, 3])).toMatchObject({ n: 3, min: 1, median: 3, p95: 5, max: 5 });
    expect(stats([4, 1, 3, 2]).median).toBe(2.5);
    const hundred = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(stats(hundred).p95).toBe(95);
    expect(() => stats([])).toThrow(/no samples/);
  });
});

describe("targets", () => {
  it("reads the statistic, the operator and converts units to the figure's", () => {
    expect(parseTarget("p50 <= 100 ms", "ms")).toEqual({ stat: "median", op: "<=", value: 100 });
    expect(parseTarget("p95 ≤ 20 ms", "ms")).toEqual({ stat: "p95", op: "<=", value: 20 });
    expect(parseTarget("<= 10 s", "ms")).toEqual({ stat: "median", op: "<=", value: 10_000 });
    expect(parseTarget("<= 4 MB", "KB")).toEqual({ stat: "median", op: "<=", value: 4096 });
    expect(parseTarget(">= 2000 commits/s", "commits/s")).toEqual({ stat: "median", op: ">=", value: 2000 });
    expect(parseTarget("ratio <= 1.10", "ms")).toEqual({ stat: "ratio", op: "<=", value: 1.1 });
  });
  it("leaves text it cannot check unparsed", () => {
    expect(parseTarget("several times faster than local", "ms")).toBeUndefined();
    expect(parseTarget("<= 5 MB", "ms")).toBeUndefined();
  });
  it("judges a figure against its target, with the ratio to its baseline", () => {
    const f = summarise("t", { name: "x", unit: "ms", samples: [10, 20, 30], target: "p95 <= 25 ms", baseline: { name: "b", samples: [40] } });
    expect(f.verdict).toBe("miss");
    expect(f.ratio).toBe(0.5);
    expect(summarise("t", { name: "x", unit: "ms", samples: [10, 20], target: "ratio <= 0.6", baseline: { name: "b", samples: [40] } }).verdict).toBe("pass");
    expect(summarise("t", { name: "x", unit: "ms", samples: [1], target: "fast" }).verdict).toBe("n/a");
    expect(summarise("t", { name: "x", unit: "ms", samples: [], skipped: "no qemu" })).toMatchObject({ verdict: "skipped", skipped: "no qemu" });
  });
});

describe("runner and output", () => {
  it("turns a throwing or missing suite into a skipped row and renders every format", async () => {
    const workDir = fs.mkdtempSync(path.join(os.tmpdir(), "kbs-bench-test-"));
    const suiteDir = fs.mkdtempSync(path.join(process.cwd(), "bench/suites/.test-suites-"));
    try {
      fs.writeFileSync(path.join(suiteDir, "good.ts"), `export const suite = async () => [{ name: "good.fig", unit: "ms", samples: [1, 2, 3], target: "p50 <= 5 ms", baseline: { name: "local <tmux>", samples: [4] } }];`);
      fs.writeFileSync(path.join(suiteDir, "bad.ts"), `export const suite = async () => { throw new Error("boom: no fixture"); };`);
      const rel = (f: string) => path.relative(path.join(process.cwd(), "bench/suites"), path.join(suiteDir, f));
      const report = await runBench({
        quick: true,
        full: false,
        kernelBuild: false,
        only: [],
        workDir,
        log: () => {},
        entries: [
          { name: "good", file: rel("good.ts"), about: "" },
          { name: "bad", file: rel("bad.ts"), about: "" },
          { name: "absent", file: "nowhere/bench.ts", about: "" },
        ],
      });
      expect(report.figures.map((f) => [f.name, f.verdict])).toEqual([
        ["good.fig", "pass"],
        ["bad", "skipped"],
        ["absent", "skipped"],
      ]);
      expect(report.figures[1]!.skipped).toContain("boom: no fixture");
      expect(report.figures[2]!.skipped).toMatch(/not landed/);
      expect(textTable(report)).toMatch(/good\.fig\s+ms\s+1\s+2\s+3\s+4 \(local <tmux>\)\s+0\.50x\s+p50 <= 5 ms\s+pass/);
      expect(markdownTable(report)).toContain("| good.fig | ms | 1 | 2 | 3 | 4 (local <tmux>) | 0.50x | p50 <= 5 ms | pass |");
      const svg = svgChart(report);
      expect(svg).toMatch(/^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
      expect(svg).toContain("local &lt;tmux&gt;");
      expect(svg).not.toContain("<tmux>");
    } finally {
      fs.rmSync(workDir, { recursive: true, force: true });
      fs.rmSync(suiteDir, { recursive: true, force: true });
    }
  });
});

describe("kbs bench command", () => {
  const kbs = (args: string[]) => spawnSync(process.execPath, ["bin/kbs.mjs", "bench", ...args], { encoding: "utf8", timeout: 60_000 });

  it("refuses an unknown suite, naming the known ones", () => {
    const r = kbs(["--only", "nope"]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/unknown suite\(s\) nope; suites are: baseline, revdb, sandbox/);
  });

  it("prints JSON with --json and writes JSON, Markdown and SVG with --out", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kbs-bench-cli-"));
    try {
      // The project suite without --project is one skipped row at once: the whole path, no fixtures.
      const r = kbs(["--only", "project", "--json", "--out", path.join(dir, "b.json")]);
      expect(r.status, r.stderr).toBe(0);
      const report = JSON.parse(r.stdout);
      expect(report.figures).toEqual([expect.objectContaining({ name: "project", verdict: "skipped" })]);
      expect(report.machine.cpus).toBeGreaterThan(0);
      expect(JSON.parse(fs.readFileSync(path.join(dir, "b.json"), "utf8")).figures).toHaveLength(1);
      expect(fs.readFileSync(path.join(dir, "b.md"), "utf8")).toContain("| project |");
      expect(fs.readFileSync(path.join(dir, "b.svg"), "utf8")).toMatch(/^<svg /);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("the Linux-sized fixture", () => {
  it("has Linux 6.1's Kconfig size, and the tree's own make olddefconfig parses all of it", { timeout: 120_000 }, () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kbs-linux-sized-"));
    try {
      writeLinuxSizedTree(dir, LINUX_6_1_SIZE);
      const kconfigs = spawnSync("sh", ["-c", "find . -name 'Kconfig*' | wc -l; cat $(find . -name 'Kconfig*') | grep -cE '^(menu)?config '"], { cwd: dir, encoding: "utf8" }).stdout.split("\n").map(Number);
      expect(kconfigs[0]).toBeGreaterThanOrEqual(1700);
      expect(kconfigs[1]).toBeGreaterThanOrEqual(18_000);
      const r = spawnSync("make", ["-s", "olddefconfig"], { cwd: dir, encoding: "utf8", timeout: 100_000 });
      expect(r.status, r.stderr).toBe(0);
      const config = fs.readFileSync(path.join(dir, ".config"), "utf8");
      // Symbols from the first and the last generated group are in the written config.
      expect(config).toMatch(/^CONFIG_GEN_0_0_OPT1=m$/m);
      expect(config).toMatch(/^CONFIG_GEN_42_19_OPT3=24$/m);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
