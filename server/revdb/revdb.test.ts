import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getRecipe } from "../core/recipe";
import { createFakeFirmwareRepo, type FakeFirmwareRepo } from "../../test/fixtures/fake-firmware";
import { createTangledRepo, git, openProjectParts, realDescribe } from "../../test/helpers/projects";
import { tmpDir } from "../../test/helpers/tmp";
import { lsTreeKconfig } from "./indexer";
import { extraEntries, kconfigHash, pathMatcher, withExtras } from "./kconfig-tree";
import { parseTar } from "../core/tar";
import { KconfigBundleStore } from "./bundles";

const recipe = getRecipe("kconfiglib")!;

/** The kconfig hash of a commit computed the slow, obvious way: ls-tree of that very commit. */
async function truthHash(gitDir: string, sha: string, r = recipe): Promise<string> {
  const entries = await lsTreeKconfig(gitDir, sha, pathMatcher(r.kconfigPaths));
  return kconfigHash(withExtras(entries.values(), extraEntries(r)));
}

describe("revdb on the fake firmware repo", () => {
  let fw: FakeFirmwareRepo;
  let parts: ReturnType<typeof openProjectParts>;
  let dataDir: string;

  beforeAll(async () => {
    fw = createFakeFirmwareRepo(path.join(tmpDir(), "fw"));
    dataDir = tmpDir();
    parts = openProjectParts(dataDir);
    parts.projects.add({ id: "fw", recipe: "kconfiglib", upstream: { kind: "git", url: fw.dir } });
    await parts.sync.sync("fw");
  });
  afterAll(() => parts.db.close());

  it("mirrors branches and tags under the project's prefix, with REMOTE_HEAD", () => {
    const refs = git(parts.gitref.dir, ["for-each-ref", "--format=%(refname)"]).split("\n");
    expect(refs).toEqual(
      expect.arrayContaining([
        "refs/heads/fw/master",
        "refs/heads/fw/feature",
        "refs/heads/fw/REMOTE_HEAD",
        "refs/tags/fw/v0.1.0",
        "refs/tags/fw/v0.2.0",
        "refs/tags/fw/v0.3.0-rc1",
        "refs/tags/fw/v0.3.0",
      ]),
    );
    expect(refs.every((r) => /^refs\/(heads|tags)\/fw\//.test(r))).toBe(true);
  });

  it("indexes every commit with the describe git gives in the original repo", () => {
    const all = parts.revdb.list("fw");
    expect(all).toHaveLength(6);
    const real = realDescribe(fw.dir, Object.values(fw.commits));
    for (const r of all) expect(r.describe).toBe(real.get(r.sha));
    const m1 = parts.revdb.resolve("fw", "v0.3.0");
    expect(m1.sha).toBe(fw.commits.m1);
    expect(m1.refs).toEqual(["tag:v0.3.0", "branch:master"]);
  });

  it("gives identical kconfig hashes exactly where the kconfig files are identical", async () => {
    const h = Object.fromEntries(Object.entries(fw.commits).map(([k, sha]) => [k, parts.revdb.resolve("fw", sha).kconfigHash]));
    expect(h.c2).toBe(h.c1);
    expect(h.c4).toBe(h.c3);
    expect(h.c3).not.toBe(h.c1);
    expect(h.f1).not.toBe(h.c3);
    expect(h.m1).not.toBe(h.c4);
    for (const [k, sha] of Object.entries(fw.commits)) expect(h[k], k).toBe(await truthHash(parts.gitref.dir, sha));
    const c1 = parts.revdb.resolve("fw", fw.commits.c1!);
    expect(c1.sameKconfigCount).toBe(1);
  });

  it("a sync writes the bundles of the named revisions; any other tree's bundle is written when first asked for; each verified, holding exactly the kconfig files", async () => {
    const hashes = parts.revdb.hashes("fw");
    expect(hashes.length).toBe(new Set(hashes).size);
    const named = parts.revdb.namedHashes("fw", 100);
    const files = () => fs.readdirSync(path.join(dataDir, "bundles")).sort();
    expect(files()).toEqual(named.map((h) => `${h}.tar`).sort());
    // A bundle not there (never written, or deleted) is written when asked for; asked for at once
    // (two sessions on one old commit), it is written once and both get the verified file.
    fs.rmSync(path.join(dataDir, "bundles", `${named[0]}.tar`));
    const [a, b] = await Promise.all([parts.bundles.ensure(named[0]!), parts.bundles.ensure(named[0]!)]);
    expect(a).toBe(b);
    expect(files()).toEqual(named.map((h) => `${h}.tar`).sort());
    await expect(parts.bundles.ensure("0".repeat(64))).rejects.toMatchObject({ kind: "not_found", code: "unknown_bundle" });
    const m1 = parts.revdb.resolve("fw", "v0.3.0");
    const tar = parseTar(fs.readFileSync(parts.bundles.path(m1.kconfigHash)));
    expect(tar.map((e) => e.path).sort()).toEqual(["src/Kconfig", "src/arch/arm/Kconfig", "src/arch/host/Kconfig"]);
    expect(tar[0]!.data.toString()).toBe(git(fw.dir, ["show", `${fw.commits.m1}:${tar[0]!.path}`]) + "\n");
    const out = path.join(tmpDir(), "x");
    await parts.bundles.extract(m1.kconfigHash, out);
    expect(fs.readFileSync(path.join(out, "src/arch/host/Kconfig"), "utf8")).toContain("HOST_USB");
  });

  it("streams the whole tree of a commit from the mirror with git archive", async () => {
    const chunks: Buffer[] = [];
    for await (const c of parts.gitref.archive(fw.commits.m1!)) chunks.push(c as Buffer);
    const names = parseTar(Buffer.concat(chunks)).map((e) => e.path);
    expect(names).toEqual(expect.arrayContaining(["Makefile", "README", "src/Kconfig", "src/main.c"]));
    expect(() => parts.gitref.archive("HEAD")).toThrow(/not a full commit sha/);
    const missing = parts.gitref.archive("0".repeat(40));
    await expect(new Promise((resolve, reject) => missing.on("error", reject).on("end", resolve).resume())).rejects.toThrow(/git archive/);
  });

  it("adds the recipe's extra files to the kconfig tree (Kalico's generated src/extras/Kconfig)", async () => {
    parts.projects.add({ id: "kal", recipe: "kalico", upstream: { kind: "git", url: fw.dir } });
    await parts.sync.sync("kal");
    const rev = parts.revdb.resolve("kal", "v0.3.0");
    expect(rev.kconfigHash).toBe(await truthHash(parts.gitref.dir, rev.sha, getRecipe("kalico")!));
    expect(rev.kconfigHash).not.toBe(parts.revdb.resolve("fw", "v0.3.0").kconfigHash);
    const out = path.join(tmpDir(), "kal");
    await parts.bundles.extract(rev.kconfigHash, out);
    expect(fs.readFileSync(path.join(out, "src/extras/Kconfig"), "utf8")).toBe("");
    expect(fs.existsSync(path.join(out, "src/Kconfig"))).toBe(true);
  });

  it("refuses a bundle that does not match its hash", () => {
    const h = parts.revdb.resolve("fw", "v0.1.0").kconfigHash;
    const file = path.join(dataDir, "bundles", `${h}.tar`);
    const good = fs.readFileSync(file);
    const bad = Buffer.from(good);
    bad[512 + 3] = bad[512 + 3]! ^ 1; // flip a content byte of the first file
    fs.writeFileSync(file, bad);
    try {
      expect(() => parts.bundles.path(h)).toThrow(/does not match its hash/);
    } finally {
      fs.writeFileSync(file, good);
    }
    expect(parts.bundles.path(h)).toBe(file);
  });

  it("a bundle verified once is not hashed again by the next process (its identity is kept), unless the file changed since", () => {
    const h = parts.revdb.resolve("fw", "v0.1.0").kconfigHash;
    const file = path.join(dataDir, "bundles", `${h}.tar`);
    const stamp = path.join(dataDir, "bundles.verified", h);
    // The sync that wrote it verified it.
    const st = fs.statSync(file);
    expect(fs.readFileSync(stamp, "utf8")).toBe(`${st.ino}:${st.size}:${st.mtimeMs}`);
    const next = () => new KconfigBundleStore(path.join(dataDir, "bundles"), parts.gitref.dir, () => undefined);
    expect(next().path(h)).toBe(file);
    const good = fs.readFileSync(file);
    const bad = Buffer.from(good);
    bad[512 + 3] = bad[512 + 3]! ^ 1;
    // Written in place (same inode and size): only its mtime tells, and a new store checks it again.
    fs.writeFileSync(file, bad);
    fs.utimesSync(file, st.atime, new Date(st.mtimeMs + 1000));
    try {
      expect(() => next().path(h)).toThrow(/does not match its hash/);
    } finally {
      fs.writeFileSync(file, good);
    }
    expect(next().path(h)).toBe(file);
  });

  it("resolves tags, branches, short shas, describe strings and HEAD; refuses unknown, ambiguous and hostile names", () => {
    const { commits } = fw;
    expect(parts.revdb.resolve("fw", "feature").sha).toBe(commits.f1);
    expect(parts.revdb.resolve("fw", "branch:master").sha).toBe(commits.m1);
    expect(parts.revdb.resolve("fw", commits.c2!.slice(0, 8)).sha).toBe(commits.c2);
    expect(parts.revdb.resolve("fw", `v0.2.0-1-g${commits.c4!.slice(0, 7)}`).sha).toBe(commits.c4);
    expect(parts.revdb.resolve("fw", `v0.2.0-1-g${commits.c4!.slice(0, 10)}`).sha).toBe(commits.c4);
    expect(parts.revdb.resolve("fw", "HEAD").sha).toBe(commits.m1);
    const unknown = (() => {
      try {
        parts.revdb.resolve("fw", "v0.2.1");
      } catch (e) {
        return e as { kind: string; code: string; message: string; details: { closeMatches: Array<{ name: string }> } };
      }
    })()!;
    expect(unknown.kind).toBe("not_found");
    expect(unknown.code).toBe("unknown_revision");
    expect(unknown.details.closeMatches.map((m) => m.name)).toContain("v0.2.0");
    expect(unknown.message).toMatch(/did you mean .*v0\.2\.0/);
    for (const hostile of ["a..b", "-rf", "x y", "a\u0001b", "v1@{0}", "a\\b", "x.lock", "a:b"]) {
      expect(() => parts.revdb.resolve("fw", hostile), hostile).toThrow(expect.objectContaining({ kind: "invalid", code: "bad_ref" }));
    }
    expect(() => parts.revdb.resolve("fw", "0000000")).toThrow(expect.objectContaining({ kind: "not_found" }));
  });

  it("lists named revisions first, newest first, and searches by tag, branch, describe and sha prefix", () => {
    const list = parts.revdb.list("fw");
    const named = list.filter((r) => r.refs.length);
    expect(list.slice(0, named.length)).toEqual(named);
    expect(list.slice(0, 2).map((r) => r.sha)).toEqual([fw.commits.m1, fw.commits.f1]);
    expect(parts.revdb.list("fw", { q: "rc1" }).map((r) => r.sha)).toEqual([fw.commits.f1]);
    expect(parts.revdb.list("fw", { q: "feature" }).map((r) => r.sha)).toEqual([fw.commits.f1]);
    expect(parts.revdb.list("fw", { q: fw.commits.c2!.slice(0, 9) }).map((r) => r.sha)).toEqual([fw.commits.c2]);
    expect(parts.revdb.list("fw", { q: "v0.1.0-1" }).map((r) => r.sha)).toEqual([fw.commits.c2]);
    expect(parts.revdb.list("fw", { limit: 2 })).toHaveLength(2);
  });

  it("indexes only new commits on resync, and re-describes old ones when tags change", async () => {
    fs.appendFileSync(path.join(fw.dir, "src/main.c"), "/* more */\n");
    git(fw.dir, ["commit", "-qam", "more code"], { date: "1700100000 +0000" });
    fs.appendFileSync(path.join(fw.dir, "src/Kconfig"), '\nconfig LATE\n    bool "late"\n');
    git(fw.dir, ["commit", "-qam", "late option"], { date: "1700100600 +0000" });
    const again = await parts.sync.sync("fw");
    expect(again.newCommits).toBe(2);
    expect(again.totalCommits).toBe(8);
    const none = await parts.sync.sync("fw");
    expect(none.newCommits).toBe(0);
    git(fw.dir, ["tag", "v0.1.1", fw.commits.c2!]);
    await parts.sync.sync("fw");
    const shas = git(fw.dir, ["rev-list", "--all"]).split("\n");
    const real = realDescribe(fw.dir, shas);
    for (const sha of shas) expect(parts.revdb.resolve("fw", sha).describe, sha).toBe(real.get(sha));
    const head = parts.revdb.resolve("fw", "master");
    expect(head.kconfigHash).toBe(await truthHash(parts.gitref.dir, head.sha));
    expect(parts.bundles.path(head.kconfigHash)).toBeTruthy();
  });

  it("drops commits that a deleted or force-pushed branch left unreachable", async () => {
    git(fw.dir, ["checkout", "-q", "-b", "doomed"]);
    git(fw.dir, ["commit", "-q", "--allow-empty", "-m", "soon gone"], { date: "1700200000 +0000" });
    const doomed = git(fw.dir, ["rev-parse", "HEAD"]);
    git(fw.dir, ["checkout", "-q", "master"]);
    await parts.sync.sync("fw");
    expect(parts.revdb.resolve("fw", "doomed").sha).toBe(doomed);
    git(fw.dir, ["branch", "-q", "-D", "doomed"]);
    await parts.sync.sync("fw");
    expect(() => parts.revdb.resolve("fw", doomed)).toThrow(expect.objectContaining({ kind: "not_found" }));
    expect(parts.revdb.count("fw")).toBe(Number(git(fw.dir, ["rev-list", "--all", "--count"])));
  });
});

describe("revdb on a tangled history", () => {
  it("matches git describe and ls-tree on every commit (merges, clock skew, equal dates, mixed tags)", async () => {
    const repo = path.join(tmpDir(), "tangled.git");
    createTangledRepo(repo, 400, 7);
    const parts = openProjectParts(tmpDir());
    try {
      parts.projects.add({ id: "tangled", recipe: "kconfiglib", upstream: { kind: "git", url: repo } });
      await parts.sync.sync("tangled");
      const shas = git(repo, ["rev-list", "--all"]).split("\n");
      expect(parts.revdb.count("tangled")).toBe(shas.length);
      // Only the newest named trees got a bundle at sync; the others get theirs when first needed.
      const bundled = fs.readdirSync(path.join(parts.bundles.dir)).length;
      expect(bundled).toBeLessThanOrEqual(20);
      expect(parts.revdb.hashes("tangled").length).toBeGreaterThan(bundled);
      const real = realDescribe(repo, shas);
      const mismatches = shas.filter((s) => parts.revdb.resolve("tangled", s).describe !== real.get(s));
      expect(mismatches.map((s) => `${s} ours=${parts.revdb.resolve("tangled", s).describe} git=${real.get(s)}`)).toEqual([]);
      for (const s of shas.filter((_, i) => i % 7 === 0)) {
        const { kconfigHash: hash } = parts.revdb.resolve("tangled", s);
        expect(hash).toBe(await truthHash(parts.gitref.dir, s));
        // The stored tree (a snapshot and the deltas since) is that commit's tree.
        const own = await lsTreeKconfig(parts.gitref.dir, s, pathMatcher(recipe.kconfigPaths));
        expect(parts.revdb.treeEntries(hash)).toEqual(withExtras(own.values(), extraEntries(recipe)));
      }
      // 400 commits share some 4-digit prefixes: such a short sha is ambiguous, and says which commits it fits
      const prefix = shas.map((s) => s.slice(0, 4)).find((p, i, all) => all.indexOf(p) !== i)!;
      expect(prefix).toBeDefined();
      expect(() => parts.revdb.resolve("tangled", prefix)).toThrow(expect.objectContaining({ kind: "invalid", code: "ambiguous_revision" }));
    } finally {
      parts.db.close();
    }
  });
});
