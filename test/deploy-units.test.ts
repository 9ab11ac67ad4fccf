import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

/** The systemd units of docs/scale-out.md, checked by systemd itself where it is installed. */
const dir = path.resolve(import.meta.dirname, "../deploy/systemd");
const analyze = spawnSync("systemd-analyze", ["--version"]).status === 0;

describe("deploy/systemd units", () => {
  it.skipIf(!analyze)("pass systemd-analyze verify without a warning", () => {
    const units = fs.readdirSync(dir).filter((f) => f.endsWith(".service"));
    expect(units.sort()).toEqual(["kbs-server.service", "kbs-worker.service"]);
    for (const u of units) {
      const r = spawnSync("systemd-analyze", ["verify", path.join(dir, u)], { encoding: "utf8" });
      expect({ unit: u, code: r.status, out: `${r.stdout}${r.stderr}`.trim() }).toEqual({ unit: u, code: 0, out: "" });
    }
  });
});
