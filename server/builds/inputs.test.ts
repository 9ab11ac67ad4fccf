import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { openDb } from "../core/db";
import { getRecipe } from "../core/recipe";
import { tmpDir } from "../../test/helpers/tmp";
import { ArtifactStore } from "./artifacts";
import { InputError, inputValues, resolveInputs, stageInputs } from "./inputs";
import { buildKey } from "./key";
import { BuildStore } from "./store";
import type { BuildState } from "../../contracts/build-states";
import type { ArtifactRef } from "./types";

/**
 * Build inputs on a real build store and artifact store: the vm recipe's VM_KERNEL_BUILD_ID
 * resolved against finished builds of every kind a person could name by mistake, and the
 * artifact handed in byte for byte (or refused when the stored blob no longer matches).
 */
const vm = getRecipe("vm")!;
const bounds = { queueMax: 100, clientMax: 100, retryAfter: () => 1 };

function setup() {
  const dir = tmpDir();
  const store = new BuildStore(openDb(dir));
  const artifacts = new ArtifactStore(dir);
  let n = 0;
  /** A build of `recipe` that ended in `state` with `files` as its artifacts. */
  const build = (recipe: string, state: BuildState, files: Record<string, string>) => {
    const refs: ArtifactRef[] = Object.entries(files).map(([name, data]) => ({ name, ...artifacts.putBuffer(data) }));
    const { build: b } = store.createOrJoin(
      { key: `k${n++}`, project: recipe === "linux" ? "linux" : "demo", rev: "v1", commit: "a".repeat(40), describe: "v1", configId: "c".repeat(64), recipe, recipeVersion: 1, image: "img", client: "t" },
      bounds,
    );
    if (state !== "queued") {
      const job = store.claimNext("test:1/0")!;
      if (state !== "running") store.finish(job.id, job.attempt, { state, artifacts: refs });
    }
    return { id: b.id, refs };
  };
  return { dir, store, artifacts, build };
}

const config = (id: string) => `CONFIG_VM_KERNEL_BUILD=y\nCONFIG_VM_KERNEL_BUILD_ID="${id}"\n`;

describe("build inputs (recipe build.inputs)", () => {
  it("reads the input symbol from the config; an empty or absent id is no input", () => {
    expect(inputValues(vm, config("abc123"))).toEqual({ VM_KERNEL_BUILD_ID: "abc123" });
    expect(inputValues(vm, 'CONFIG_VM_KERNEL_BUILD_ID=""\n')).toEqual({});
    expect(inputValues(vm, "CONFIG_VM_KERNEL_DEBIAN=y\n")).toEqual({});
    expect(inputValues(getRecipe("kconfiglib")!, config("abc123"))).toEqual({});
  });

  it("resolves a succeeded linux build to its bzImage's sha256 and says what is wrong with any other id", () => {
    const { store, build } = setup();
    const kernel = build("linux", "succeeded", { bzImage: "kernel-a", "kernel.release": "6.1.2\n" });
    const failed = build("linux", "failed", {});
    const running = build("linux", "running", {});
    const noImage = build("linux", "succeeded", { "System.map": "map" });
    const firmware = build("kconfiglib", "succeeded", { "demo.elf": "elf" });
    const resolve = (id: string) => resolveInputs(vm, inputValues(vm, config(id)), store)[0]!;

    expect(resolve(kernel.id)).toEqual({ symbol: "VM_KERNEL_BUILD_ID", buildId: kernel.id, artifact: "bzImage", path: "kernel/bzImage", sha256: kernel.refs[0]!.sha256, problem: null });
    expect(resolve("0000feedface0000")).toMatchObject({ sha256: null, problem: "there is no build 0000feedface0000 on this portal" });
    expect(resolve(failed.id).problem).toBe(`build ${failed.id} is failed, not succeeded`);
    expect(resolve(running.id).problem).toBe(`build ${running.id} is running, not succeeded: wait until it has succeeded, then request this build again`);
    expect(resolve(noImage.id).problem).toBe(`build ${noImage.id} has no artifact 'bzImage' (it has: System.map)`);
    expect(resolve(firmware.id).problem).toBe(`build ${firmware.id} is a build of project 'demo' (recipe kconfiglib); VM_KERNEL_BUILD_ID takes builds of recipe linux`);
    store.expire(kernel.id);
    expect(resolve(kernel.id).problem).toBe(`build ${kernel.id} has expired and its files were removed; build it again and use the new id`);
  });

  it("keys builds on their inputs: another kernel build or another kernel is another build", () => {
    const base = { project: "vm", commit: "a".repeat(40), configHash: "h", recipe: "vm", recipeVersion: 2, image: "build-vm" };
    const a = buildKey({ ...base, inputs: [{ symbol: "VM_KERNEL_BUILD_ID", buildId: "a", sha256: "1".repeat(64) }] });
    expect(buildKey({ ...base, inputs: [{ symbol: "VM_KERNEL_BUILD_ID", buildId: "b", sha256: "1".repeat(64) }] })).not.toBe(a);
    expect(buildKey({ ...base, inputs: [{ symbol: "VM_KERNEL_BUILD_ID", buildId: "a", sha256: "2".repeat(64) }] })).not.toBe(a);
    // Builds without inputs keep the keys they had before inputs existed.
    expect(buildKey({ ...base, inputs: [] })).toBe(buildKey(base));
  });

  it("hands the artifact in read-only at its path, and refuses a stored blob that no longer matches", async () => {
    const { dir, store, artifacts, build } = setup();
    const kernel = build("linux", "succeeded", { bzImage: "kernel-bytes" });
    const refs = resolveInputs(vm, { VM_KERNEL_BUILD_ID: kernel.id }, store);
    const inDir = path.join(dir, "in");
    fs.mkdirSync(inDir);
    const staged = await stageInputs(vm, refs, store, (h) => artifacts.path(h), inDir);
    expect(staged).toEqual([{ symbol: "VM_KERNEL_BUILD_ID", buildId: kernel.id, artifact: "bzImage", sha256: kernel.refs[0]!.sha256 }]);
    expect(fs.readFileSync(path.join(inDir, "kernel/bzImage"), "utf8")).toBe("kernel-bytes");
    expect(fs.statSync(path.join(inDir, "kernel/bzImage")).mode & 0o777).toBe(0o444);

    fs.writeFileSync(artifacts.path(kernel.refs[0]!.sha256), "tampered");
    const again = path.join(dir, "in2");
    fs.mkdirSync(again);
    const err = await stageInputs(vm, refs, store, (h) => artifacts.path(h), again).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toContain(`VM_KERNEL_BUILD_ID=${kernel.id}: its stored 'bzImage' is damaged`);

    const unknown = resolveInputs(vm, { VM_KERNEL_BUILD_ID: "nope" }, store);
    await expect(stageInputs(vm, unknown, store, (h) => artifacts.path(h), again)).rejects.toThrow(
      "VM_KERNEL_BUILD_ID=nope: there is no build nope on this portal. Set CONFIG_VM_KERNEL_BUILD_ID to the id of a succeeded build that has 'bzImage', or leave it empty.",
    );
  });
});
