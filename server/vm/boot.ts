import path from "node:path";
import { killGroup, spawnGroup } from "../core/proc";
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

/**
 * Boot an image with kbs.boottest=1 and -no-reboot until the marker appears on the
 * serial console; resolves with the milliseconds from QEMU's start to the marker.
 * QEMU's whole process group is killed on the way out.
 */
export function bootToMarker(manifest: VmManifest, dir: string, timeoutMs: number): Promise<number> {
  const [cmd, ...args] = qemuArgv(manifest, dir, { append: "kbs.boottest=1", extra: ["-no-reboot"] });
  const t0 = performance.now();
  const child = spawnGroup(cmd!, args, { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  return new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`no marker '${manifest.boot.marker}' within ${timeoutMs} ms; console:\n${out.slice(-2000)}`)), timeoutMs);
    const done = (result: number | Error) => {
      clearTimeout(timer);
      killGroup(child.pid);
      if (typeof result === "number") resolve(result);
      else reject(result);
    };
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString("latin1");
      if (out.includes(manifest.boot.marker)) done(performance.now() - t0);
    });
    child.stderr!.on("data", (d: Buffer) => (out += d.toString("latin1")));
    child.once("error", (e) => done(e));
    child.once("exit", (code) => setTimeout(() => done(new Error(`QEMU exited (${code}) before the marker; console:\n${out.slice(-2000)}`)), 50));
  });
}
