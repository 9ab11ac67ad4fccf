import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { tmpDir } from "../../test/helpers/tmp";
import { chooseFrontend } from "../terminal/frontend";
import { entryIn, loadRecipes, RecipeError } from "../core/recipe";

/** A recipes dir with one file, `json` as written. */
function recipeDir(name: string, json: unknown): string {
  const dir = tmpDir();
  fs.writeFileSync(path.join(dir, name), typeof json === "string" ? json : JSON.stringify(json));
  return dir;
}

const minimal = {
  id: "tiny",
  version: 1,
  name: "Tiny",
  kconfigPaths: ["Kconfig"],
  entry: ["Kconfig"],
  frontend: "kconfiglib",
  build: { image: "build-firmware", olddefconfig: ["make", "olddefconfig"], steps: [{ name: "build", argv: ["make"] }], artifacts: ["out/*"] },
};

describe("recipe files", () => {
  it("every shipped recipe validates, with the defaults filled in", () => {
    const recipes = loadRecipes();
    expect([...recipes.keys()].sort()).toEqual(expect.arrayContaining(["kconfiglib", "mconf", "vm"]));
    for (const r of recipes.values()) {
      expect(r.entry.length).toBeGreaterThan(0);
      expect(r.symbolPrefix).toMatch(/^([A-Z][A-Z0-9_]*_)?$/);
      expect(r.images.menuconfig).toBeTruthy();
    }
    // Pre-registered upstreams are recipe data, each naming a git URL.
    expect([...recipes.values()].filter((r) => r.preregister).every((r) => /^https:\/\//.test(r.preregister!.url))).toBe(true);
  });

  it("a minimal recipe gets the defaults: CONFIG_, KCONFIG_CONFIG, scripts/kconfig, the menuconfig image, no toolchain rules", () => {
    const r = loadRecipes(recipeDir("tiny.json", minimal)).get("tiny")!;
    expect(r).toMatchObject({
      symbolPrefix: "CONFIG_",
      configVar: "KCONFIG_CONFIG",
      kconfigTools: { sources: "scripts/kconfig", dir: "scripts/kconfig", viaMake: false },
      images: { menuconfig: "menuconfig", kconfig: "menuconfig", make: "build-kernel" },
      build: { toolchains: [] },
    });
    expect(r.defconfigs).toBeUndefined();
  });

  it("an unknown field stops loading, naming the file and the field (nested ones by their path)", () => {
    const top = recipeDir("tiny.json", { ...minimal, entrypoint: "Kconfig" });
    expect(() => loadRecipes(top)).toThrow(RecipeError);
    expect(() => loadRecipes(top)).toThrow(new RegExp(`recipe ${top}/tiny\\.json: unknown field 'entrypoint'`));
    const nested = recipeDir("tiny.json", { ...minimal, build: { ...minimal.build, toolchain: [] } });
    expect(() => loadRecipes(nested)).toThrow(/tiny\.json: unknown field 'build\.toolchain'/);
  });

  it("a wrong type names the field and what it should be", () => {
    expect(() => loadRecipes(recipeDir("tiny.json", { ...minimal, entry: "Kconfig" }))).toThrow(/tiny\.json: field 'entry': .*array/i);
    expect(() => loadRecipes(recipeDir("tiny.json", { ...minimal, symbolPrefix: "br2" }))).toThrow(/field 'symbolPrefix': empty, or upper-case letters/);
    expect(() => loadRecipes(recipeDir("tiny.json", { ...minimal, build: { ...minimal.build, toolchains: [{ symbol: "X", compiler: "gcc", what: "x", packaged: "no" }] } }))).toThrow(
      /field 'build\.toolchains\.0\.packaged'/,
    );
    expect(() => loadRecipes(recipeDir("tiny.json", "{ not json"))).toThrow(/tiny\.json: not valid JSON/);
    expect(() => loadRecipes(recipeDir("other.json", minimal))).toThrow(/other\.json: id 'tiny' does not match the file name/);
  });

  it("the entry is the first candidate the tree has", () => {
    const r = loadRecipes().get("kconfiglib")!;
    expect(r.entry).toEqual(["Kconfig", "src/Kconfig", "Config.in"]);
    expect(entryIn(r, (f) => ["src/Kconfig", "Kconfig"].includes(f))).toBe("Kconfig");
    expect(entryIn(r, (f) => f === "src/Kconfig")).toBe("src/Kconfig");
    expect(entryIn(r, (f) => f === "Config.in")).toBe("Config.in");
    expect(entryIn(r, () => false)).toBeUndefined();
    expect(chooseFrontend(r, new Set(["Kconfig"])).argv).toEqual(["python3", "-m", "menuconfig", "Kconfig"]);
    const mconf = loadRecipes().get("mconf")!;
    expect(chooseFrontend(mconf, new Set(["Config.in"])).argv).toEqual(["/usr/bin/kconfig-mconf", "Config.in"]);
  });
});
