import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";

/** sandbox-images/ at the repo root: each image is data (packages, binds, check command). */
export const IMAGES_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../sandbox-images");
/** The warm stub every backend starts ahead of need (sandbox-images/common/warm_stub.py). */
export const STUB_DIR = path.join(IMAGES_DIR, "common");

export const ImageSchema = z.object({
  name: z.string().regex(/^[a-z0-9][a-z0-9-]*$/),
  purpose: z.string().min(1),
  /** Debian packages the image needs; on bwrap they must be installed on the host. */
  packages: z.array(z.string().min(1)),
  bwrap: z.object({
    /** Host dirs bound read-only at the same place (missing ones are skipped). */
    roBinds: z.array(z.string().startsWith("/")).min(1),
  }),
  /** A command that proves the image works (run in a sandbox by `kbs doctor`). */
  check: z.array(z.string()).min(1),
  /** What a warm sandbox of this image runs while it waits for a job. */
  warm: z.array(z.string()).min(1),
  /** qemu: whether warm guests get the Python layer (default: when the packages list python3). */
  qemu: z.object({ python: z.boolean() }).optional(),
});
export type Image = z.infer<typeof ImageSchema>;

const cache = new Map<string, Image>();

export function imageNames(): string[] {
  return fs
    .readdirSync(IMAGES_DIR, { withFileTypes: true })
    .filter((d) => d.isDirectory() && fs.existsSync(path.join(IMAGES_DIR, d.name, "image.json")))
    .map((d) => d.name)
    .sort();
}

/** Load sandbox-images/<name>/image.json; unknown names get an error listing the known ones. */
export function getImage(name: string): Image {
  const hit = cache.get(name);
  if (hit) return hit;
  if (!/^[a-z0-9][a-z0-9-]*$/.test(name) || !fs.existsSync(path.join(IMAGES_DIR, name, "image.json"))) {
    throw new Error(`unknown sandbox image "${name}"; known images: ${imageNames().join(", ")}`);
  }
  const file = path.join(IMAGES_DIR, name, "image.json");
  const parsed = ImageSchema.safeParse(JSON.parse(fs.readFileSync(file, "utf8")));
  if (!parsed.success) throw new Error(`${file}: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  if (parsed.data.name !== name) throw new Error(`${file}: name "${parsed.data.name}" does not match its directory`);
  cache.set(name, parsed.data);
  return parsed.data;
}
