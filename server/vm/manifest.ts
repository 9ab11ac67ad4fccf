import { z } from "zod";

/**
 * vm-manifest.json, written by the VM project's mkimage.py: a release manifest
 * (arch, kernel version, per asset name/size/sha256) plus what booting needs.
 * The builder's own manifest.json lists this file's sha256, so a build record
 * vouches for the VM manifest and the VM manifest for every asset.
 */
const Sha256 = z.string().regex(/^[0-9a-f]{64}$/, "not a sha256");
/** An asset name is a plain file name: it becomes a path in the download dir. */
const AssetName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._+-]{0,99}$/, "not a plain file name");

export const VmManifestSchema = z.object({
  format: z.literal("kbs-vm/1"),
  arch: z.literal("x86_64"),
  kernel: z.object({ release: z.string(), version: z.string(), source: z.string() }),
  boot: z.object({
    kernel: AssetName,
    initrd: AssetName,
    cmdline: z.string().max(2048),
    memoryMB: z.number().int().min(16).max(65536),
    marker: z.string(),
  }),
  sizeKB: z.number().int().nonnegative(),
  sizeBudgetKB: z.number().int().nonnegative(),
  assets: z.array(z.object({ name: AssetName, size: z.number().int().nonnegative(), sha256: Sha256 })).min(1),
});
export type VmManifest = z.infer<typeof VmManifestSchema>;

export const VM_MANIFEST = "vm-manifest.json";

/** Parse and check a VM manifest; the error says what is wrong with it. */
export function parseVmManifest(text: string, where: string): VmManifest {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`${where} is not JSON`);
  }
  const r = VmManifestSchema.safeParse(json);
  if (!r.success) throw new Error(`${where} is not a kbs VM manifest: ${r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  const names = new Set(r.data.assets.map((a) => a.name));
  for (const need of [r.data.boot.kernel, r.data.boot.initrd]) {
    if (!names.has(need)) throw new Error(`${where} boots ${need}, which is not among its assets`);
  }
  return r.data;
}
