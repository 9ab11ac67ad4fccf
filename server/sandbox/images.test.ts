import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { getImage, imageNames, IMAGES_DIR } from "./images";

describe("sandbox images", () => {
  it("ships menuconfig, build-firmware and build-kernel, each valid", () => {
    expect(imageNames()).toEqual(expect.arrayContaining(["menuconfig", "build-firmware", "build-kernel"]));
    for (const name of imageNames()) expect(getImage(name).name).toBe(name);
  });

  it("installs in each Containerfile exactly the packages its image.json lists", () => {
    for (const name of ["menuconfig", "build-firmware", "build-kernel", "shell"]) {
      const file = fs.readFileSync(path.join(IMAGES_DIR, name, "Containerfile"), "utf8");
      const install = /apt-get install -y --no-install-recommends \\\n\s+([^\\]+)\\/.exec(file);
      expect(install, `${name}/Containerfile has an apt-get install line`).not.toBeNull();
      expect(install![1]!.trim().split(/\s+/).sort()).toEqual([...getImage(name).packages].sort());
    }
  });

  it("says which images exist when asked for an unknown one", () => {
    expect(() => getImage("../etc")).toThrow(/unknown sandbox image "..\/etc"; known images: .*menuconfig/);
  });
});
