import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { createFakeLinuxRepo } from "../../test/fixtures/fake-linux";
import { tmpDir } from "../../test/helpers/tmp";
import { procEnv } from "../core/settings";
import { formatPatch, unifiedDiff } from "./patch";

const file = "arch/x86/configs/x86_64_defconfig";

describe("defconfig patches", () => {
  it("makes a git format-patch patch that git am applies to the kernel tree", async () => {
    const repo = createFakeLinuxRepo(path.join(tmpDir(), "linux"));
    const oldText = fs.readFileSync(path.join(repo.dir, file), "utf8");
    const newText = "CONFIG_NR_CPUS=16\nCONFIG_LOCALVERSION=\"-kbs\"\n";
    const patch = await formatPatch({ file, oldText, newText, subject: "x86: configs: update x86_64_defconfig", body: "Made by a test." });
    expect(patch).toMatch(/^From [0-9a-f]{40} Mon Sep 17 00:00:00 2001\nFrom: kbs <kbs@localhost>\nDate: .+\nSubject: \[PATCH\] x86: configs: update x86_64_defconfig\n/);
    expect(patch).toContain(` ${file} | `);
    expect(patch).toContain("1 file changed");
    // The index line names the tree's own blob, so `git am -3` could fall back on it.
    const blob = execFileSync("git", ["rev-parse", `HEAD:${file}`], { cwd: repo.dir, encoding: "utf8" }).trim();
    expect(patch).toContain(`index ${blob.slice(0, 7)}`);

    const env = procEnv({ ...process.env, GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@kbs.invalid" });
    execFileSync("git", ["am", "-q"], { cwd: repo.dir, input: patch, env });
    expect(fs.readFileSync(path.join(repo.dir, file), "utf8")).toBe(newText);
    const log = execFileSync("git", ["log", "-1", "--format=%an <%ae>|%s"], { cwd: repo.dir, encoding: "utf8" }).trim();
    expect(log).toBe("kbs <kbs@localhost>|x86: configs: update x86_64_defconfig");
  });

  it("gives no patch and an empty diff for equal texts", async () => {
    expect(await formatPatch({ file, oldText: "A=1\n", newText: "A=1\n", subject: "s", body: "b" })).toBe("");
    expect(await unifiedDiff("A=1\n", "A=1\n", "a/x", "b/x")).toBe("");
  });

  it("diffs with the given labels", async () => {
    const d = await unifiedDiff("CONFIG_A=y\nCONFIG_B=y\n", "CONFIG_A=y\nCONFIG_C=y\n", `a/${file}`, `b/${file}`);
    expect(d.split("\n").slice(0, 2)).toEqual([`--- a/${file}`, `+++ b/${file}`]);
    expect(d).toContain("-CONFIG_B=y\n+CONFIG_C=y\n");
  });
});
