import path from "node:path";
import type { VmManifest } from "./manifest";

/**
 * The QEMU command for a verified VM image in `dir`: TCG (KVM is not usable
 * everywhere kbs runs), serial console on this terminal, no network.
 * kbs builds it from the manifest rather than running the image's run-qemu.sh,
 * so nothing downloaded is executed on the host.
 */
export function qemuArgv(manifest: VmManifest, dir: string, opts: { append?: string; extra?: string[] } = {}): string[] {
  const cmdline = [manifest.boot.cmdline, opts.append].filter(Boolean).join(" ");
  return [
    "qemu-system-x86_64",
    "-accel", "tcg",
    "-m", String(manifest.boot.memoryMB),
    "-nographic",
    "-nic", "none",
    "-kernel", path.join(dir, manifest.boot.kernel),
    "-initrd", path.join(dir, manifest.boot.initrd),
    "-append", cmdline,
    ...(opts.extra ?? []),
  ];
}
