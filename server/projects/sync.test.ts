import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { createFakeFirmwareRepo, demoTree } from "../../test/fixtures/fake-firmware";
import { git, openProjectParts } from "../../test/helpers/projects";
import { tmpDir } from "../../test/helpers/tmp";
import { ensureBuiltins } from "./builtins";

/** Sync and return the error a person would see (or undefined when it worked). */
async function syncError(parts: ReturnType<typeof openProjectParts>, id: string): Promise<string | undefined> {
  try {
    await parts.sync.sync(id);
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

describe("sync: bad input", () => {
  it("an unknown project is a 404 naming the known ones", async () => {
    const parts = openProjectParts(tmpDir());
    parts.projects.add({ id: "one", recipe: "kconfiglib", upstream: { kind: "git", url: "/nonexistent" } });
    await expect(parts.sync.sync("nope")).rejects.toMatchObject({ kind: "not_found", code: "unknown_project", message: expect.stringContaining("Known projects: one") });
    expect(() => parts.projects.add({ id: "Bad_Id", recipe: "kconfiglib", upstream: { kind: "git", url: "/x" } })).toThrow(/not a valid project id/);
    expect(() => parts.projects.add({ id: "two", recipe: "nosuch", upstream: { kind: "git", url: "/x" } })).toThrow(/No recipe 'nosuch'. Recipes: .*kconfiglib/);
    expect(() => parts.projects.add({ id: "one", recipe: "kconfiglib", upstream: { kind: "git", url: "/x" } })).toThrow(/already exists/);
    parts.db.close();
  });

  it("a URL that is not a git repo fails the sync with git's reason and leaves state failed", async () => {
    const parts = openProjectParts(tmpDir());
    const notRepo = tmpDir();
    fs.writeFileSync(path.join(notRepo, "README"), "not a repo");
    await expect(parts.gitref.probe(notRepo)).rejects.toThrow(/not a git repository we can read: .*does not appear to be a git repository/);
    parts.projects.add({ id: "nr", recipe: "kconfiglib", upstream: { kind: "git", url: notRepo } });
    expect(await syncError(parts, "nr")).toMatch(/^upstream unreachable, last tried \d{4}-\d\d-\d\dT.*Z: .*does not appear to be a git repository/);
    const p = parts.projects.require("nr");
    expect(p.sync.state).toBe("failed");
    expect(p.sync.message).toMatch(/upstream unreachable/);
    expect(p.revisionCount).toBe(0);
    parts.db.close();
  });

  it("skips hostile ref names from a remote, with a warning, and indexes the rest", async () => {
    const fw = createFakeFirmwareRepo(path.join(tmpDir(), "fw"));
    git(fw.dir, ["update-ref", "refs/heads/-rf", "HEAD"]);
    git(fw.dir, ["pack-refs", "--all"]);
    // names git itself refuses can still sit in a hand-edited packed-refs file
    const packed = path.join(fw.dir, ".git/packed-refs");
    const lines = fs.readFileSync(packed, "utf8").split("\n").filter((l) => l && !l.startsWith("#"));
    lines.push(`${fw.commits.c1} refs/heads/bad..name`, `${fw.commits.c1} refs/tags/sp ace`);
    fs.writeFileSync(packed, "# pack-refs with: peeled fully-peeled \n" + lines.join("\n") + "\n");
    const parts = openProjectParts(tmpDir());
    parts.projects.add({ id: "fw", recipe: "kconfiglib", upstream: { kind: "git", url: fw.dir } });
    const r = await parts.sync.sync("fw");
    // "sp ace" is advertised by git as "sp" without an object: skipped as broken
    expect(r.skippedRefs.sort()).toEqual(["-rf", "bad..name", "sp"]);
    const refs = git(parts.gitref.dir, ["for-each-ref", "--format=%(refname)"]).split("\n");
    expect(refs.filter((x) => /-rf|\.\.|\/sp/.test(x))).toEqual([]);
    expect(refs).toContain("refs/heads/fw/master");
    expect(parts.projects.require("fw").sync).toMatchObject({ state: "ok", message: expect.stringContaining("skipped 3 ref(s) with unusable names") });
    expect(parts.revdb.count("fw")).toBe(6);
    parts.db.close();
  });

  it("a tree with its top Kconfig at the root syncs with the kconfiglib recipe; one with none of the entry candidates fails naming them", async () => {
    const dir = path.join(tmpDir(), "plain");
    fs.mkdirSync(dir);
    git(process.cwd(), ["init", "-q", "-b", "main", dir]);
    fs.writeFileSync(path.join(dir, "Kconfig"), 'mainmenu "plain"\nconfig A\n    bool "a"\n');
    git(dir, ["add", "."]);
    git(dir, ["commit", "-qm", "top-level Kconfig only"]);
    const parts = openProjectParts(tmpDir());
    parts.projects.add({ id: "plain", recipe: "kconfiglib", upstream: { kind: "git", url: dir } });
    expect(await syncError(parts, "plain")).toBeUndefined();
    expect(parts.revdb.count("plain")).toBe(1);
    const rev = parts.revdb.resolve("plain", "main");
    expect(parts.revdb.treeEntries(rev.kconfigHash)!.map((e) => e.path)).toEqual(["Kconfig"]);

    const none = path.join(tmpDir(), "none");
    fs.mkdirSync(none);
    git(process.cwd(), ["init", "-q", "-b", "main", none]);
    fs.writeFileSync(path.join(none, "README"), "no Kconfig here\n");
    git(none, ["add", "."]);
    git(none, ["commit", "-qm", "no Kconfig"]);
    parts.projects.add({ id: "none", recipe: "kconfiglib", upstream: { kind: "git", url: none } });
    expect(await syncError(parts, "none")).toMatch(/none: no Kconfig or src\/Kconfig or Config.in on the default branch \([0-9a-f]{12}\): the 'kconfiglib' recipe expects its top Kconfig file there/);
    expect(parts.revdb.count("none")).toBe(0);
    parts.db.close();
  });
});

describe("sync: tarballs", () => {
  const makeTarball = (dir: string, opts: { withKconfig: boolean }) => {
    const src = path.join(dir, "stage", "demo-1.0");
    fs.cpSync(demoTree, src, { recursive: true });
    fs.rmSync(path.join(src, "project.json"), { force: true });
    if (!opts.withKconfig) fs.rmSync(path.join(src, "src"), { recursive: true });
    const file = path.join(dir, opts.withKconfig ? "demo-1.0.tar.gz" : "nokconfig.tar.xz");
    execFileSync("tar", [opts.withKconfig ? "-czf" : "-cJf", file, "-C", path.join(dir, "stage"), "demo-1.0"]);
    return file;
  };

  it("imports a source tarball as a tagged commit, stripping the top directory, with the same sha every time", async () => {
    const dir = tmpDir();
    const tarball = makeTarball(dir, { withKconfig: true });
    const parts = openProjectParts(tmpDir());
    parts.projects.add({ id: "t1", recipe: "kconfiglib", upstream: { kind: "tarball", path: tarball, revName: "v1.0" } });
    parts.projects.add({ id: "t2", recipe: "kconfiglib", upstream: { kind: "tarball", path: tarball, revName: "v1.0" } });
    await parts.sync.sync("t1");
    await parts.sync.sync("t2");
    const [a] = parts.revdb.list("t1");
    const [b] = parts.revdb.list("t2");
    expect(a!.describe).toBe("v1.0");
    expect(a!.refs).toEqual(["tag:v1.0"]);
    expect(b!.sha).toBe(a!.sha);
    expect(git(parts.gitref.dir, ["ls-tree", "--name-only", a!.sha]).split("\n")).toEqual(expect.arrayContaining(["Makefile", "src"]));
    // the same tree as the demo built-in: the kconfig bundle is shared
    expect(fs.readdirSync(path.join(parts.bundles.dir))).toHaveLength(1);
    parts.db.close();
  });

  it("refuses a file that is not a tar and a tarball without the entry Kconfig, indexing nothing", async () => {
    const dir = tmpDir();
    const junk = path.join(dir, "junk.tar");
    fs.writeFileSync(junk, "definitely not a tarball\n".repeat(100));
    const parts = openProjectParts(tmpDir());
    parts.projects.add({ id: "junk", recipe: "kconfiglib", upstream: { kind: "tarball", path: junk, revName: "v1" } });
    expect(await syncError(parts, "junk")).toMatch(/junk.tar is not a source tarball: not a tar archive/);
    parts.projects.add({ id: "nok", recipe: "kconfiglib", upstream: { kind: "tarball", path: makeTarball(dir, { withKconfig: false }), revName: "v1" } });
    expect(await syncError(parts, "nok")).toMatch(/nokconfig.tar.xz has no Kconfig or src\/Kconfig or Config.in: it is not a source tree for this recipe/);
    expect(git(parts.gitref.dir, ["for-each-ref", "--format=%(refname)"])).toBe("");
    parts.db.close();
  });
});

describe("built-in projects", () => {
  it("imports demo offline with the same sha in any data dir, and skips the work when nothing changed", async () => {
    const shas: string[] = [];
    for (let i = 0; i < 2; i++) {
      const parts = openProjectParts(tmpDir());
      await ensureBuiltins(parts.projects, parts.sync);
      const demo = parts.projects.require("demo");
      expect(demo.sync.state).toBe("ok");
      expect(demo.name).toBe("kbs demo firmware");
      expect(demo.recipe.id).toBe("kconfiglib");
      const head = parts.revdb.resolve("demo", "main");
      expect(head.refs).toEqual(["tag:v1", "branch:main"]);
      shas.push(head.sha);
      const tried = demo.sync.lastTried;
      await ensureBuiltins(parts.projects, parts.sync);
      expect(parts.projects.require("demo").sync.lastTried).toBe(tried);
      parts.db.close();
    }
    expect(shas[1]).toBe(shas[0]);
  });
});
