import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { procEnv } from "../core/settings";
import { tmpDir } from "../../test/helpers/tmp";
import { createFakeFirmwareRepo } from "../../test/fixtures/fake-firmware";
import { GitRef } from "../gitref/gitref";
import { abbrevFor, packedRefs } from "./worktree";

const git = (cwd: string, args: string[]) => execFileSync("git", args, { cwd, encoding: "utf8", env: procEnv({ ...process.env }) }).trim();

describe("the build's git work tree", () => {
  it("abbreviates as git does for a repository of that many objects", () => {
    // Measured with git on Klipper: 40,782 objects print g84104bbb, 147,077 print g84104bbbd.
    expect(abbrevFor(40_782)).toBe(8);
    expect(abbrevFor(147_077)).toBe(9);
    expect(abbrevFor(300)).toBe(7);
    expect(abbrevFor(0)).toBe(7);
  });

  it("has the project's refs under upstream names only, borrows the objects, and describes as a clone does", async () => {
    const dir = tmpDir();
    const fw = createFakeFirmwareRepo(path.join(dir, "fw"));
    const gitref = new GitRef(path.join(dir, "gitref.git"));
    await gitref.fetch("fx", fw.dir);
    // Another project in the same mirror: its refs must not show.
    const other = createFakeFirmwareRepo(path.join(dir, "other"));
    git(other.dir, ["tag", "-a", "v9.9.9", "-m", "other"]);
    await gitref.fetch("other", other.dir);

    const tree = path.join(dir, "tree");
    fs.mkdirSync(tree);
    git(tree, ["init", "-q", "."]);
    fs.writeFileSync(path.join(tree, ".git/objects/info/alternates"), path.join(gitref.dir, "objects") + "\n");
    fs.writeFileSync(path.join(tree, ".git/packed-refs"), packedRefs(await gitref.refs("fx")));
    git(tree, ["checkout", "-q", "--detach", fw.commits.c4!]);

    expect(git(tree, ["tag", "--list"]).split("\n")).toEqual(["v0.1.0", "v0.2.0", "v0.3.0", "v0.3.0-rc1"]);
    expect(git(tree, ["branch", "-r"])).not.toMatch(/other|fx\//);
    expect(git(tree, ["status", "--porcelain"])).toBe("");
    expect(fs.readdirSync(path.join(tree, ".git/objects/pack"))).toEqual([]);
    const clone = path.join(dir, "clone");
    git(dir, ["clone", "-q", fw.dir, clone]);
    git(clone, ["checkout", "-q", "--detach", fw.commits.c4!]);
    const describe = ["describe", "--always", "--tags", "--long", "--dirty"];
    expect(git(tree, describe)).toBe(git(clone, describe));
    expect(git(tree, describe)).toMatch(/^v0\.2\.0-1-g[0-9a-f]{7}$/);
  });
});
