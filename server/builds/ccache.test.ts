import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { CompilerCache } from "./ccache";
import { tmpDir } from "../../test/helpers/tmp";

/** A local ccache dir as a build hands it back (build.sh's tar of it): one result entry, and ccache's own stats file, which is not merged. */
function handedBack(tarFile: string, name: string): string {
  const dir = `${tarFile}.src`;
  fs.mkdirSync(path.join(dir, "a/b"), { recursive: true });
  fs.writeFileSync(path.join(dir, "a/b", `${name}R`), `object ${name}`);
  fs.writeFileSync(path.join(dir, "a/stats"), "0 0 0\n");
  fs.mkdirSync(path.dirname(tarFile), { recursive: true });
  execFileSync("tar", ["--format=ustar", "-cf", tarFile, "-C", dir, "."]);
  fs.rmSync(dir, { recursive: true });
  return tarFile;
}

describe("compiler cache merges after the build", () => {
  it("moves a build's objects out at once, merges them in the background and makes the scope's next build wait for them", async () => {
    const data = tmpDir("kbs-ccache-");
    const cache = new CompilerCache(data);
    const scope = cache.scope({ recipe: "r", image: "img", project: "p", client: "c" });
    const work = path.join(data, "build-work");
    fs.mkdirSync(work);
    const results: number[] = [];
    for (const n of ["0123456789abcdef01", "fedcba987654321001"]) {
      const collected = handedBack(path.join(work, `job-${n}`, "ccache.tar"), n);
      const spool = path.join(work, `job-${n}-ccache.tar`);
      cache.mergeLater(scope, collected, spool, (added, e) => results.push(e ? -1 : added));
      // The job dir can go at once: its objects were moved to the spool.
      expect(fs.existsSync(collected)).toBe(false);
      fs.rmSync(path.join(work, `job-${n}`), { recursive: true });
    }
    await cache.ready(scope);
    expect(fs.readFileSync(path.join(scope, "ab", "0123456789abcdef01"), "utf8")).toBe("object 0123456789abcdef01");
    expect(fs.readFileSync(path.join(scope, "ab", "fedcba987654321001"), "utf8")).toBe("object fedcba987654321001");
    expect(results).toEqual([25, 25]);
    await cache.settled();
    // The spools are gone once merged; nothing of them is left in the work root.
    expect(fs.readdirSync(work)).toEqual([]);
    expect(Number(fs.readFileSync(path.join(scope, ".kbs-size"), "utf8"))).toBe(50);
  });

  it("writes a ccache.conf in depend mode that cannot change the output", () => {
    const data = tmpDir("kbs-ccache-");
    const cache = new CompilerCache(data);
    const inDir = path.join(data, "in");
    fs.mkdirSync(inDir);
    const { env } = cache.forBuild(cache.scope({ recipe: "r", image: "img", project: "p", client: "c" }), inDir);
    const conf = fs.readFileSync(path.join(inDir, "ccache.conf"), "utf8");
    expect(conf).toMatch(/^depend_mode = true$/m);
    expect(conf).toMatch(/^compiler_check = content$/m);
    expect(conf).not.toMatch(/base_dir|sloppiness/);
    expect(env.CCACHE_CONFIGPATH).toBe("/kbs/in/ccache.conf");
    // The build's own cache lives in its size-limited /work and comes back as one tar among the outputs.
    expect(env.CCACHE_DIR).toBe("/work/.kbs-ccache");
    expect(env.KBS_CCACHE_TAR).toBe("/kbs/out/ccache.tar");
  });
});
