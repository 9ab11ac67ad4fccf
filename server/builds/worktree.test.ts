import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { procEnv } from "../core/settings";
import { tmpDir } from "../../test/helpers/tmp";
import { createFakeFirmwareRepo } from "../../test/fixtures/fake-firmware";
import { GitRef } from "../gitref/gitref";
import { abbrevFor, checkoutScript, packedRefs } from "./worktree";
import { createBackend } from "../sandbox/service";
import { loadSettings } from "../core/settings";
import { TreeCache } from "./tree-cache";
import { GUEST_IN, GUEST_OBJECTS, GUEST_TREE } from "../core/guest-paths";

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

  it("unpacks the commit's ready tree: files at the commit's time, clean to git by their stat data alone, and a change of the same size still dirty; the cache keeps to its budget", async () => {
    const dir = tmpDir();
    const fw = createFakeFirmwareRepo(path.join(dir, "fw"));
    const gitref = new GitRef(path.join(dir, "gitref.git"));
    await gitref.fetch("fx", fw.dir);
    const backend = await createBackend("bwrap", { dataDir: path.join(dir, "data"), sandboxes: loadSettings().sandboxes });
    // A budget smaller than any entry: an entry not read for an hour goes, one read just now stays (a build may be unpacking it).
    const trees = new TreeCache(path.join(dir, "trees"), path.join(dir, "work"), 1);
    const entry = (sha: string, ageMs: number) => {
      const e = path.join(dir, "trees", sha);
      fs.mkdirSync(e, { recursive: true });
      fs.writeFileSync(path.join(e, "tree.tar"), "x".repeat(1000));
      fs.writeFileSync(path.join(e, "index"), "x");
      const t = new Date(Date.now() - ageMs);
      fs.utimesSync(e, t, t);
      return e;
    };
    const stale = entry("a".repeat(40), 3600_000);
    const recent = entry("b".repeat(40), 1000);
    const commit = fw.commits.c4!;
    const deps = { sandbox: backend, objectsDir: path.join(gitref.dir, "objects") };
    const limits = { diskBytes: 256 * 2 ** 20, timeoutMs: 60_000 };
    const [ready, again] = await Promise.all([trees.ensure(deps, "build-firmware", commit, limits), trees.ensure(deps, "build-firmware", commit, limits)]);
    expect(again.dir).toBe(ready.dir);
    expect(fs.readdirSync(ready.dir).sort()).toEqual(["index", "tree.tar"]);
    expect(fs.readdirSync(path.join(dir, "work"))).toEqual([]);
    expect([fs.existsSync(stale), fs.existsSync(recent)]).toEqual([false, true]);

    const inDir = path.join(dir, "in");
    fs.mkdirSync(inDir);
    fs.writeFileSync(path.join(inDir, "packed-refs"), packedRefs(await gitref.refs("fx")));
    const describe = "git describe --always --tags --long --dirty";
    const script = [
      "fail() { echo \"$1\" >&2; exit 3; }",
      checkoutScript(commit, 7),
      "git rev-parse HEAD",
      "git status --porcelain | wc -l",
      'echo "$(stat -c %Y Makefile) $(git log -1 --format=%ct)"',
      // A file git cannot read stays clean only if git goes by its stat data and does not re-read it.
      "chmod 000 src/main.c",
      describe,
      // The same size, another byte: the whole-second mtime tells.
      "sed -i 's/kbs demo/kbs dema/' Makefile",
      describe,
    ].join("\n");
    const r = await backend.run({
      image: "build-firmware",
      argv: ["/bin/bash", "-c", script],
      binds: [{ host: inDir, guest: GUEST_IN }, { host: deps.objectsDir, guest: GUEST_OBJECTS }, { host: ready.dir, guest: GUEST_TREE }],
      workSizeBytes: limits.diskBytes,
      timeoutMs: 60_000,
    });
    expect(r.stderr.toString()).toBe("");
    const [head, dirty, times, clean, changed] = r.stdout.toString().trim().split("\n");
    expect(head).toBe(commit);
    expect(dirty).toBe("0");
    const [mtime, epoch] = times!.split(" ");
    expect(mtime).toBe(epoch);
    const clone = path.join(dir, "clone");
    git(dir, ["clone", "-q", fw.dir, clone]);
    git(clone, ["checkout", "-q", "--detach", commit]);
    expect(clean).toBe(git(clone, ["describe", "--always", "--tags", "--long", "--dirty"]));
    expect(changed).toBe(`${clean}-dirty`);
  });
});
