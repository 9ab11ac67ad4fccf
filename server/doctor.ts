import { spawnSync } from "node:child_process";
import { procEnv, type Env } from "./core/settings";
import fs from "node:fs";
import path from "node:path";

export interface CheckResult {
  name: string;
  ok: boolean;
  /** Required checks fail `kbs doctor`; optional ones only warn. */
  required: boolean;
  detail: string;
  fix?: string;
}

export interface DoctorOptions {
  env: Env;
  dataDir: string;
}

/** Look a program up on the given PATH, as the shell would. */
export function which(cmd: string, env: Env): string | undefined {
  for (const dir of (env.PATH ?? "").split(":")) {
    if (!dir) continue;
    const p = path.join(dir, cmd);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return undefined;
}

function version(cmd: string, args: string[], env: Env): string {
  if (!args.length) return "";
  const r = spawnSync(cmd, args, { env: procEnv(env), encoding: "utf8", timeout: 10_000 });
  return `${r.stdout ?? ""}${r.stderr ?? ""}`.split("\n").find((l) => l.trim())?.trim() ?? "";
}

function tool(name: string, cmd: string, pkg: string, required: boolean, env: Env, versionArgs = ["--version"]): CheckResult {
  const p = which(cmd, env);
  if (!p) return { name, ok: false, required, detail: `${cmd} not found on PATH`, fix: `apt-get install ${pkg}` };
  return { name, ok: true, required, detail: `${p} ${version(p, versionArgs, env)}`.trim() };
}

/**
 * A bwrap sandbox as kbs starts it (no network, own namespaces) must really start:
 * the binary alone is not enough where user namespaces are disabled.
 */
function bwrapStarts(env: Env): CheckResult {
  const bwrap = which("bwrap", env);
  if (!bwrap) {
    return { name: "bubblewrap", ok: false, required: true, detail: "bwrap not found on PATH: sandboxes cannot start", fix: "apt-get install bubblewrap" };
  }
  const r = spawnSync(
    bwrap,
    ["--unshare-all", "--die-with-parent", "--ro-bind", "/usr", "/usr", "--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib",
      "--symlink", "usr/lib64", "/lib64", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "/bin/sh", "-c", "cat /proc/net/dev"],
    { env: procEnv(env), encoding: "utf8", timeout: 10_000 },
  );
  if (r.status !== 0) {
    return {
      name: "bubblewrap",
      ok: false,
      required: true,
      detail: `bwrap is installed but a sandbox did not start: ${(r.stderr || "").trim()}`,
      fix: "enable unprivileged user namespaces: sysctl -w kernel.unprivileged_userns_clone=1 (or run kbs as root)",
    };
  }
  const ifaces = r.stdout.split("\n").slice(2).map((l) => l.split(":")[0]!.trim()).filter(Boolean);
  const leaks = ifaces.filter((i) => i !== "lo");
  if (leaks.length) {
    return { name: "bubblewrap", ok: false, required: true, detail: `sandbox sees network interfaces: ${leaks.join(", ")}`, fix: "use a bubblewrap that supports --unshare-net" };
  }
  return { name: "bubblewrap", ok: true, required: true, detail: `${bwrap}: sandbox starts with no network (${version(bwrap, ["--version"], env)})` };
}

function pythonCurses(env: Env): CheckResult {
  const py = which("python3", { PATH: "/usr/bin:/bin" }) ?? which("python3", env);
  if (!py) return { name: "python3+curses", ok: false, required: true, detail: "python3 not found", fix: "apt-get install python3" };
  const r = spawnSync(py, ["-c", "import curses, kconfiglib; print(kconfiglib.__file__)"], { env: procEnv({ PATH: "/usr/bin:/bin" }), encoding: "utf8" });
  if (r.status !== 0) {
    return { name: "python3+curses", ok: false, required: true, detail: `${py} cannot import curses and kconfiglib`, fix: "apt-get install python3 python3-kconfiglib" };
  }
  return { name: "python3+curses", ok: true, required: true, detail: `${py}, kconfiglib at ${r.stdout.trim()}` };
}

function nodeVersion(): CheckResult {
  const [maj, min] = process.versions.node.split(".").map(Number) as [number, number];
  const ok = maj > 20 || (maj === 20 && min >= 9);
  return { name: "node", ok, required: true, detail: `node ${process.versions.node}`, fix: ok ? undefined : "install Node.js 20.9 or newer" };
}

function freeDisk(dataDir: string): CheckResult {
  let dir = path.resolve(dataDir);
  while (!fs.existsSync(dir)) dir = path.dirname(dir);
  const st = fs.statfsSync(dir);
  const free = st.bavail * st.bsize;
  const gib = free / 2 ** 30;
  return {
    name: "disk",
    ok: gib >= 2,
    required: true,
    detail: `${gib.toFixed(1)} GiB free at ${dir}`,
    fix: gib >= 2 ? undefined : "free at least 2 GiB where KBS_DATA_DIR lives, or point KBS_DATA_DIR elsewhere",
  };
}

/** Checks parts add beyond the basics (sandbox images, queue engines). */
export const extraChecks: Array<(opts: DoctorOptions) => CheckResult | Promise<CheckResult>> = [];

export async function runChecks(opts: DoctorOptions): Promise<CheckResult[]> {
  const { env } = opts;
  const results: CheckResult[] = [
    nodeVersion(),
    tool("git", "git", "git", true, env),
    bwrapStarts(env),
    pythonCurses(env),
    tool("kconfig-frontends", "kconfig-mconf", "kconfig-frontends", false, env, []),
    tool("make", "make", "make", true, env),
    tool("gcc", "gcc", "gcc", true, env),
    tool("arm-none-eabi-gcc", "arm-none-eabi-gcc", "gcc-arm-none-eabi libnewlib-arm-none-eabi", false, env),
    tool("avr-gcc", "avr-gcc", "gcc-avr avr-libc", false, env),
    tool("qemu", "qemu-system-x86_64", "qemu-system-x86", false, env),
    tool("busybox-static", "busybox", "busybox-static", false, env, []),
    tool("chromium", "chromium", "chromium", false, env),
    tool("redis", "redis-server", "redis-server", false, env),
    freeDisk(opts.dataDir),
  ];
  results.push(...(await Promise.all(extraChecks.map((extra) => extra(opts)))));
  return results;
}

export function formatChecks(results: CheckResult[]): string {
  const width = Math.max(...results.map((r) => r.name.length));
  return results
    .map((r) => {
      const mark = r.ok ? "ok  " : r.required ? "FAIL" : "warn";
      const fix = !r.ok && r.fix ? `  -> fix: ${r.fix}` : "";
      return `${mark} ${r.name.padEnd(width)}  ${r.detail}${fix}`;
    })
    .join("\n");
}
