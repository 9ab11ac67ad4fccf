import { spawnSync } from "node:child_process";
import { extraChecks, type CheckResult, type DoctorOptions } from "../doctor";
import { loadSettings } from "../core/settings";
import { getImage, imageNames, type Image } from "./images";
import { createBackend, BACKEND_NAMES, type BackendName } from "./service";
import type { SandboxBackend } from "./types";

/** Debian packages of an image that are not installed here. */
export function missingPackages(image: Image): string[] {
  const r = spawnSync("dpkg-query", ["-W", "-f=${Package} ${db:Status-Status}\n", ...image.packages], { encoding: "utf8" });
  const installed = new Set(
    (r.stdout ?? "")
      .split("\n")
      .filter((l) => l.endsWith(" installed"))
      .map((l) => l.split(" ")[0]!.split(":")[0]),
  );
  return image.packages.filter((p) => !installed.has(p));
}

async function backendsHere(opts: DoctorOptions): Promise<Array<{ name: BackendName; backend?: SandboxBackend; ok: boolean; reason?: string }>> {
  return Promise.all(
    BACKEND_NAMES.map(async (name) => {
      try {
        const backend = await createBackend(name, { dataDir: opts.dataDir, sandboxes: loadSettings(opts.env).sandboxes });
        const a = await backend.available();
        return { name, backend, ...a };
      } catch (e) {
        return { name, ok: false, reason: (e as Error).message };
      }
    }),
  );
}

let backendsOnce: ReturnType<typeof backendsHere> | undefined;

export async function backendCheck(opts: DoctorOptions): Promise<CheckResult> {
  const list = await (backendsOnce ??= backendsHere(opts));
  const selected = loadSettings(opts.env).sandbox;
  const mine = list.find((b) => b.name === selected)!;
  return {
    name: "sandbox backends",
    ok: mine.ok,
    required: true,
    detail: list.map((b) => `${b.name}: ${b.ok ? "ok" : b.reason}`).join("; ") + ` (KBS_SANDBOX=${selected})`,
    fix: mine.ok ? undefined : `make the ${selected} backend work (${mine.reason}) or pick another with KBS_SANDBOX`,
  };
}

export async function imageCheck(name: string, opts: DoctorOptions): Promise<CheckResult> {
  const image = getImage(name);
  const required = name === "menuconfig";
  const missing = missingPackages(image);
  if (missing.length) {
    return { name: `image ${name}`, ok: false, required, detail: `missing Debian packages: ${missing.join(" ")}`, fix: `apt-get install ${missing.join(" ")}` };
  }
  const usable: string[] = [];
  const problems: string[] = [];
  // Probing an image boots a sandbox; on qemu that is a VM boot per image, so only the
  // selected backend is probed (the others still report whether they are available).
  const selected = loadSettings(opts.env).sandbox;
  const others: string[] = [];
  for (const b of await (backendsOnce ??= backendsHere(opts))) {
    if (b.ok && b.name !== selected) others.push(b.name === "qemu" ? "qemu (one-shot runs: busybox shell, and Python on images with python3; warm sessions with Python + Kconfiglib)" : b.name);
    if (!b.ok || !b.backend || b.name !== selected) continue;
    const r = await b.backend.run({ image: name, argv: image.check, timeoutMs: 120_000 }).catch((e: Error) => e);
    if (r instanceof Error) problems.push(`${b.name}: ${r.message}`);
    else if (r.code !== 0) problems.push(`${b.name}: check failed: ${(r.stderr.toString() || r.stdout.toString()).trim().split("\n").slice(-1)[0]}`);
    else usable.push(b.name);
  }
  return {
    name: `image ${name}`,
    ok: usable.length > 0,
    required,
    detail: usable.length
      ? `usable with ${usable.join(", ")}${others.length ? ` (also available, not probed: ${others.join(", ")})` : ""} — ${image.purpose}`
      : `no backend runs it: ${problems.join("; ") || "no backend available"}`,
    fix: usable.length ? undefined : "see 'sandbox backends' above",
  };
}

extraChecks.push(backendCheck);
for (const name of imageNames()) extraChecks.push((opts) => imageCheck(name, opts));
