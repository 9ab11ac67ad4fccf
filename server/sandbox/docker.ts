import { spawn } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import * as pty from "node-pty";
import { which } from "../doctor";
import { procEnv } from "../core/settings";
import { killGroup, run as runProc, trackGroup, untrackGroup } from "../core/proc";
import { checkGuestPath, claimDir, DEFAULT_WORK_SIZE, envOf, limitsOf, newSandboxId } from "./common";
import { getImage, IMAGES_DIR, STUB_DIR } from "./images";
import { alive, waitGone } from "./procs";
import { runChild } from "./run-child";
import type { Bind, PoolKey, RunRequest, RunResult, SandboxBackend, SandboxRequest, WarmSandbox } from "./types";
import { collectTar } from "./untrusted";
import { ConsoleWarmSandbox, type Console } from "./warm";
import { GUEST_IN, GUEST_OUT, GUEST_STUB } from "../core/guest-paths";

/**
 * docker or podman: one container per sandbox from the image's Containerfile (built on
 * first use, tagged by the Containerfile's hash), run with `--network=none --read-only
 * --cap-drop=ALL --security-opt no-new-privileges --user 1000:1000`, a size-limited
 * tmpfs at /work, the rlimits as --ulimit and --pids-limit/--memory.
 */
export class EngineBackend implements SandboxBackend {
  private built = new Map<string, Promise<string>>();
  private readonly cli: string;

  constructor(
    readonly name: "docker" | "podman",
    private readonly sandboxesDir: string,
  ) {
    this.cli = which(name, process.env) ?? name;
  }

  async available(): Promise<{ ok: boolean; reason?: string }> {
    if (!which(this.name, process.env)) return { ok: false, reason: `${this.name} is not installed` };
    const r = await runProc(this.cli, ["version", "--format", "{{.Server.Version}}"], { timeoutMs: 15_000 }).catch((e: Error) => e);
    if (r instanceof Error) return { ok: false, reason: `${this.name}: ${r.message}` };
    if (r.code !== 0 || !r.stdout.toString().trim()) {
      const why = (r.stderr.toString().trim().split("\n").pop() ?? "").slice(0, 200);
      return { ok: false, reason: `no engine answers (${this.name} version: ${why || `exit ${r.code}`})` };
    }
    return { ok: true };
  }

  async run(req: RunRequest): Promise<RunResult> {
    const tag = await this.image(req.image);
    const name = `kbs-${newSandboxId()}`;
    // Collected outputs: a bind the container writes, read back only once it is gone, through
    // the host's tar (which records links, FIFOs and devices as such; collectTar refuses them).
    const outDir = req.collect && path.join(this.sandboxesDir, `${name}-out`);
    const binds = [...(req.binds ?? []), ...(outDir ? [{ host: outDir, guest: GUEST_OUT, writable: true }] : [])];
    if (outDir) {
      fs.mkdirSync(outDir, { recursive: true });
      fs.chownSync(outDir, 1000, 1000);
    }
    try {
      const args = ["run", "--rm", "-i", ...this.flags(name, req, binds), "-w", req.cwd ?? "/work", tag, ...req.argv];
      const result = await runChild(this.cli, args, req, (pid) => this.remove(name, pid), { env: procEnv(process.env) });
      if (!outDir || !req.collect) return result;
      const tar = spawn("tar", ["--format=ustar", "-cf", "-", "-C", outDir, "."], { stdio: ["ignore", "pipe", "ignore"] });
      const collect = req.collect;
      const collected = await collectTar(tar.stdout, collect.into, { maxBytes: collect.maxBytes, maxFiles: collect.maxFiles ?? 100_000 }).catch((e: Error) => {
        tar.kill();
        return { error: e.message };
      });
      return { ...result, collected };
    } finally {
      if (outDir) fs.rmSync(outDir, { recursive: true, force: true });
    }
  }

  async startWarm(req: SandboxRequest & PoolKey): Promise<WarmSandbox> {
    const image = getImage(req.image);
    const tag = await this.image(req.image);
    const id = newSandboxId();
    const dir = path.join(this.sandboxesDir, id);
    const inDir = path.join(dir, "in");
    const outDir = path.join(dir, "out");
    fs.mkdirSync(inDir, { recursive: true });
    fs.mkdirSync(outDir, { recursive: true });
    claimDir(dir);
    fs.chownSync(outDir, 1000, 1000);
    const name = `kbs-${id}`;
    const binds: Bind[] = [
      { host: inDir, guest: GUEST_IN },
      { host: outDir, guest: GUEST_OUT, writable: true },
      { host: STUB_DIR, guest: GUEST_STUB },
      ...(req.binds ?? []),
    ];
    const args = ["run", "--rm", "-it", ...this.flags(name, req, binds), "-w", "/work", tag, ...image.warm];
    const term = pty.spawn(this.cli, args, { name: "xterm-256color", cols: 80, rows: 24, cwd: dir, env: process.env, encoding: null });
    trackGroup(term.pid);
    let exited = false;
    const console: Console = {
      pid: term.pid,
      onData: (cb) => void term.onData((d) => cb(d as unknown as Buffer)),
      onExit: (cb) =>
        void term.onExit((e) => {
          exited = true;
          untrackGroup(term.pid);
          cb({ code: e.exitCode, signal: e.signal ?? null });
        }),
      write: (d) => term.write(d as string),
      resize: (c, r) => term.resize(c, r),
      pause: () => term.pause(),
      resume: () => term.resume(),
    };
    const sandbox = new ConsoleWarmSandbox(id, this.name, req.image, inDir, outDir, console, async () => {
      await this.remove(name, term.pid, () => exited);
      fs.rmSync(dir, { recursive: true, force: true });
    });
    await sandbox.ready;
    return sandbox;
  }

  private flags(name: string, req: SandboxRequest & { network?: boolean }, binds: Bind[]): string[] {
    const l = limitsOf(req);
    const f = [
      "--name", name, req.network ? "--network=bridge" : "--network=none", "--read-only", "--cap-drop=ALL", "--security-opt", "no-new-privileges",
      "--user", "1000:1000", "--ipc=none", "--pids-limit", String(l.processes), "--memory", String(l.memoryBytes),
      "--ulimit", `cpu=${l.cpuSeconds}:${l.cpuSeconds}`, "--ulimit", `fsize=${l.fileSizeBytes}:${l.fileSizeBytes}`,
      "--ulimit", `nofile=${l.openFiles}:${l.openFiles}`, "--ulimit", "core=0:0",
      "--tmpfs", `/work:rw,exec,size=${req.workSizeBytes ?? DEFAULT_WORK_SIZE},mode=1777`,
      "--tmpfs", "/tmp:rw,size=64m,mode=1777",
    ];
    for (const b of binds) {
      if (!b.guest.startsWith(GUEST_STUB)) checkGuestPath(b.guest);
      f.push("-v", `${b.host}:${b.guest}:${b.writable ? "rw" : "ro"}`);
    }
    if (req.hostname) f.push("--hostname", req.hostname);
    for (const [k, v] of Object.entries(envOf(req))) f.push("-e", `${k}=${v}`);
    return f;
  }

  /** Build (once per Containerfile content) and return the image tag. */
  private image(name: string): Promise<string> {
    getImage(name);
    let p = this.built.get(name);
    if (!p) {
      p = (async () => {
        const dir = path.join(IMAGES_DIR, name);
        const file = path.join(dir, "Containerfile");
        if (!fs.existsSync(file)) throw new Error(`sandbox-images/${name} has no Containerfile`);
        const tag = `kbs-sandbox/${name}:${crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex").slice(0, 12)}`;
        const have = await runProc(this.cli, ["image", "inspect", tag], { timeoutMs: 30_000 });
        if (have.code === 0) return tag;
        const b = await runProc(this.cli, ["build", "-t", tag, "-f", file, dir], { timeoutMs: 30 * 60_000 });
        if (b.code !== 0) throw new Error(`${this.name} build of ${name} failed: ${b.stderr.toString().trim().split("\n").slice(-3).join(" / ")}`);
        return tag;
      })();
      p.catch(() => this.built.delete(name));
      this.built.set(name, p);
    }
    return p;
  }

  /** Remove the container (the CLI process alone does not stop it) and wait for the CLI to go. */
  private async remove(name: string, pid: number | undefined, exited?: () => boolean): Promise<void> {
    await runProc(this.cli, ["rm", "-f", name], { timeoutMs: 30_000 }).catch(() => undefined);
    killGroup(pid);
    const gone = () => (exited ? exited() : !pid || !alive(pid));
    if (!(await waitGone(gone, () => killGroup(pid)))) throw new Error(`${this.name} client ${pid} survived SIGKILL`);
  }
}
