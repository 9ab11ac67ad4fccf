import crypto from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { PassThrough, Readable } from "node:stream";
import os from "node:os";
import { killGroup, run as runProc, spawnGroup } from "../core/proc";
import { BASE_ENV, checkGuestPath, claimDir, removeStaleDirs, DEFAULT_WORK_SIZE, envOf, limitsOf, newSandboxId } from "./common";
import { cpio, parentDirs, treeEntries, type CpioEntry } from "./cpio";
import { getImage, IMAGES_DIR } from "./images";
import { pythonLayer, writeCache } from "./qemu-python";
import { alive, waitGone } from "./procs";
import { runChild } from "./run-child";
import type { LaunchJob, PoolKey, RunRequest, RunResult, SandboxBackend, SandboxRequest, WarmSandbox } from "./types";
import { collectTar } from "./untrusted";
import { InDrive, mib, OutDrive, tarSize } from "./qemu-drives";
import { ConsoleWarmSandbox, type Console } from "./warm";
import { log } from "../core/log";
import { GUEST_IN } from "../core/guest-paths";

/** The most a warm guest may send back from /kbs/out at once (a session's config and its markers). */
const GUEST_OUT_MAX = 16 * 2 ** 20;

const QEMU = "/usr/bin/qemu-system-x86_64";
const BUSYBOX = "/usr/bin/busybox";
const GUEST_DIR = path.join(IMAGES_DIR, "qemu-guest");
const MAX_STDIN = 64 * 2 ** 20;
/** The most a warm guest takes in at /kbs/in (less when its work size is smaller). */
const WARM_IN_MAX = 256 * 2 ** 20;
const END = "__KBS_END__";

export interface QemuOptions {
  /** Where initramfs files are cached and per-sandbox dirs are made. */
  dir: string;
  /** Kernel image; default the newest /boot/vmlinuz-*-cloud-amd64. */
  kernel?: string;
  /** "kvm" only when asked for: /dev/kvm exists on this machine kind but guests hang. */
  accel?: "tcg" | "kvm";
}

/** Shell-quote one word for the guest's busybox sh. */
const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

export function findCloudKernel(): string | undefined {
  const found = fs.existsSync("/boot") ? fs.readdirSync("/boot").filter((f) => /^vmlinuz-.*-cloud-amd64$/.test(f)).sort() : [];
  return found.length ? path.join("/boot", found[found.length - 1]!) : undefined;
}

/**
 * A microVM per sandbox: Debian's cloud kernel and an initramfs made here from
 * busybox-static and the guest scripts in sandbox-images/qemu-guest (cached by content
 * under the data dir). No network device (`-nic none`), TCG unless KVM is asked for.
 *
 * What it supports: `run` of shell/busybox commands, and Python on images that list
 * python3 (stdout on ttyS0, stderr on ttyS1, exit status on ttyS2; stdin and read-only
 * binds are copied into the guest in a per-run initramfs; writable binds are refused;
 * `collect` brings /kbs/out back through a writable NVMe drive, qemu-drives.ts) and warm
 * pty sessions (console on ttyS0, a control channel on ttyS1 for resize, /kbs/in handed
 * over at launch through a read-only NVMe drive, /kbs/out back at exit over ttyS1).
 * Warm sandboxes of images that list python3 get the host's Python with Kconfiglib and
 * curses (qemu-python.ts) and run the same warm stub as bwrap, so menuconfig sessions
 * work. The cloud kernel builds virtio (console, blk) as modules only and NVMe in, so
 * the channels are 16550 serial ports and bulk data goes through NVMe. Inside, jobs run
 * as an unprivileged user with the request's rlimits (ulimit) and /work as a
 * size-limited tmpfs.
 */
export class QemuBackend implements SandboxBackend {
  readonly name = "qemu";
  private base: Buffer | undefined;
  private python: Promise<Buffer> | undefined;

  constructor(private readonly opts: QemuOptions) {
    fs.mkdirSync(opts.dir, { recursive: true });
    removeStaleDirs(opts.dir);
  }

  async available(): Promise<{ ok: boolean; reason?: string }> {
    if (!fs.existsSync(QEMU)) return { ok: false, reason: "qemu-system-x86_64 not installed: apt-get install qemu-system-x86" };
    if (!fs.existsSync(BUSYBOX)) return { ok: false, reason: "busybox not installed: apt-get install busybox-static" };
    if (!this.kernel()) return { ok: false, reason: "no /boot/vmlinuz-*-cloud-amd64: apt-get install linux-image-cloud-amd64" };
    return { ok: true };
  }

  async run(req: RunRequest): Promise<RunResult> {
    getImage(req.image);
    if (req.network) throw new Error("the qemu backend gives its guests no network device, so it cannot run a fetch stage with network; use bwrap, docker or podman, or put the sources in the download cache");
    const id = newSandboxId();
    const dir = path.join(this.opts.dir, id);
    fs.mkdirSync(dir, { recursive: true });
    claimDir(dir);
    try {
      const stdin = await readAll(req.stdin);
      const job: CpioEntry[] = [
        { name: "/kbs/job.env", mode: 0o644, type: "file", data: this.jobEnv("run", req) },
        { name: "/kbs/env.sh", mode: 0o644, type: "file", data: envScript(envOf(req)) },
        { name: "/kbs/job.sh", mode: 0o644, type: "file", data: `cd ${q(req.cwd ?? "/work")} || exit 125\nexec ${req.argv.map(q).join(" ")}\n` },
        { name: "/kbs/stdin", mode: 0o644, type: "file", data: stdin },
      ];
      for (const b of req.binds ?? []) {
        checkGuestPath(b.guest);
        if (b.writable) throw new Error(`the qemu backend copies binds in read-only; writable bind "${b.guest}" needs KBS_SANDBOX=bwrap`);
        job.push(...parentDirs(b.guest), ...treeEntries(b.host, b.guest));
      }
      const initrd = path.join(dir, "initrd");
      fs.writeFileSync(initrd, Buffer.concat([this.baseInitramfs(), await this.imageLayer(req.image), cpio(job)]));
      const outDrive = req.collect && new OutDrive(path.join(dir, "out.img"), req.collect);
      // Node's stdio pipes are socketpairs qemu cannot open by path, so stderr and the exit
      // status come through unix sockets qemu serves (wait=on: it starts once both are connected).
      const errSock = path.join(dir, "err.sock");
      const statusSock = path.join(dir, "status.sock");
      const serials = ["stdio", "chardev:err", "chardev:status", "null"];
      const args = [
        "-chardev", `socket,id=err,path=${errSock},server=on,wait=on`,
        "-chardev", `socket,id=status,path=${statusSock},server=on,wait=on`,
        ...(outDrive ? outDrive.args() : []),
        ...this.args(req, initrd, serials),
      ];
      const stderr = new PassThrough();
      let status = "";
      let qemuSays = "";
      const result = await runChild(QEMU, args, { ...req, stdin: undefined }, (pid) => killVm(pid), {
        stderr,
        waitFor: [
          connectWhenServed(errSock).then((s) => new Promise((r) => s.pipe(stderr).on("finish", r))),
          connectWhenServed(statusSock).then((s) => new Promise((r) => s.on("data", (d: Buffer) => (status += d.toString())).on("close", r))),
        ],
        onSpawn: (child) => child.stderr!.on("data", (d: Buffer) => (qemuSays += d.toString())),
      });
      const m = /KBS-EXIT (\d+)/.exec(status);
      if (!m && !result.timedOut && qemuSays.trim()) throw new Error(`qemu failed: ${qemuSays.trim().slice(-500)}`);
      const done = { ...result, code: m ? Number(m[1]) : result.timedOut ? null : result.code, signal: result.timedOut ? "SIGKILL" : result.signal };
      return outDrive ? { ...done, collected: await outDrive.collect(/KBS-OUT (\S+)/.exec(status)?.[1]) } : done;
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  async startWarm(req: SandboxRequest & PoolKey): Promise<WarmSandbox> {
    getImage(req.image);
    if (req.binds?.length) throw new Error("the qemu backend's warm sandboxes take files through /kbs/in only");
    const id = newSandboxId();
    const dir = path.join(this.opts.dir, id);
    const inDir = path.join(dir, "in");
    const outDir = path.join(dir, "out");
    fs.mkdirSync(inDir, { recursive: true });
    fs.mkdirSync(outDir, { recursive: true });
    claimDir(dir);
    const initrd = path.join(dir, "initrd");
    // /kbs/in lives in the guest's RAM beside /work: the guest gets memory for both.
    const inDrive = new InDrive(path.join(dir, "in.img"), Math.min(req.workSizeBytes ?? DEFAULT_WORK_SIZE, WARM_IN_MAX));
    const python = usesPython(req.image);
    const warm = cpio([
      { name: "/kbs/job.env", mode: 0o644, type: "file", data: this.jobEnv("warm", req) + (python ? "export KBS_STUB=python\n" : "") },
      { name: "/kbs/env.sh", mode: 0o644, type: "file", data: envScript({}) },
    ]);
    fs.writeFileSync(initrd, Buffer.concat([this.baseInitramfs(), await this.imageLayer(req.image), warm]));
    // Console (ttyS0) and control port (ttyS1) are unix sockets qemu serves; wait=on makes
    // qemu start the guest only once both are connected, so no byte is lost.
    const conPath = path.join(dir, "con.sock");
    const ctlPath = path.join(dir, "ctl.sock");
    const serials = ["chardev:con", "chardev:ctl", "null", "null"];
    const args = [
      "-chardev", `socket,id=con,path=${conPath},server=on,wait=on`,
      "-chardev", `socket,id=ctl,path=${ctlPath},server=on,wait=on`,
      ...inDrive.args(),
      ...this.args(req, initrd, serials, inDrive.capacity),
    ];
    const child = spawnGroup(QEMU, args, { stdio: ["ignore", "ignore", "pipe"], cwd: dir, env: {} as NodeJS.ProcessEnv });
    let qemuSays = "";
    child.stderr!.on("data", (d: Buffer) => (qemuSays = (qemuSays + d.toString()).slice(-2000)));
    const qemuExit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once("exit", (code, signal) => r({ code, signal })));
    let exited = false;
    void qemuExit.then(() => (exited = true));
    const ctl = new ControlChannel(ctlPath, outDir, inDrive);
    const con = connectWhenServed(conPath);
    const ctlUp = ctl.connect();
    const conSock = await Promise.race([con, qemuExit.then(() => null)]);
    if (!conSock) throw new Error(`qemu did not start: ${qemuSays.trim() || "no message"}`);
    await ctlUp;
    const console: Console = {
      pid: child.pid!,
      onData: (cb) => void conSock.on("data", cb),
      onExit: (cb) =>
        void qemuExit.then((e) =>
          ctl.closed().then(() => cb({ code: ctl.exitCode ?? e.code, signal: e.signal ? (os.constants.signals[e.signal] ?? null) : null })),
        ),
      write: (d) => void conSock.write(d),
      resize: (c, r) => ctl.send(`resize ${c} ${r}\n`),
      pause: () => void conSock.pause(),
      resume: () => void conSock.resume(),
      // With Python the guest runs the same stub as bwrap (JSON launch line); else a shell stub.
      encodeLaunch: python ? undefined : (job) => `KBS-LAUNCH ${Buffer.from(launchScript(job)).toString("base64")}\n`,
      prepareLaunch: () => ctl.sendDir(inDir),
    };
    const sandbox = new ConsoleWarmSandbox(id, this.name, req.image, inDir, outDir, console, async () => {
      await killVm(child.pid, () => exited);
      ctl.destroy();
      fs.rmSync(dir, { recursive: true, force: true });
    }, 120_000);
    await sandbox.ready;
    return sandbox;
  }

  /** The Python layer for images that list python3 (cached), else nothing. */
  private async imageLayer(image: string): Promise<Buffer> {
    if (!usesPython(image)) return Buffer.alloc(0);
    return (this.python ??= pythonLayer(this.opts.dir));
  }

  private kernel(): string | undefined {
    return this.opts.kernel ?? findCloudKernel();
  }

  private args(req: SandboxRequest, initrd: string, serials: string[], inBytes = 0): string[] {
    const work = req.workSizeBytes ?? DEFAULT_WORK_SIZE;
    const memMiB = Math.min(4096 + WARM_IN_MAX / 2 ** 20, Math.max(256, Math.ceil((work + inBytes) / 2 ** 20) + 160));
    return [
      "-machine", "pc", "-accel", this.opts.accel ?? "tcg", "-cpu", "max", "-smp", "1", "-m", String(memMiB),
      "-nodefaults", "-no-user-config", "-display", "none", "-vga", "none", "-monitor", "none", "-nic", "none", "-no-reboot",
      ...serials.flatMap((s) => ["-serial", s]),
      "-kernel", this.kernel()!, "-initrd", initrd,
      "-append", "console=ttyS3 quiet loglevel=0 panic=-1 rdinit=/init tsc=reliable no_timer_check",
    ];
  }

  private jobEnv(mode: "run" | "warm", req: SandboxRequest & Pick<RunRequest, "collect">): string {
    const l = limitsOf(req);
    const vars = {
      KBS_MODE: mode,
      KBS_WORK_SIZE: String(req.workSizeBytes ?? DEFAULT_WORK_SIZE),
      KBS_CPU: String(l.cpuSeconds),
      KBS_NPROC: String(l.processes),
      KBS_AS_KB: String(Math.floor(l.memoryBytes / 1024)),
      KBS_FSIZE_BLOCKS: String(Math.floor(l.fileSizeBytes / 512)),
      KBS_NOFILE: String(l.openFiles),
      KBS_COLLECT: req.collect ? "1" : "0",
    };
    return Object.entries(vars).map(([k, v]) => `export ${k}=${q(v)}\n`).join("");
  }

  /** busybox-static + the guest scripts as a cpio, cached by content in the data dir. */
  private baseInitramfs(): Buffer {
    if (this.base) return this.base;
    const files = ["init", "stub.sh", "limits.sh", "pystub.sh"].map((f) => fs.readFileSync(path.join(GUEST_DIR, f)));
    const busybox = fs.readFileSync(BUSYBOX);
    const hash = crypto.createHash("sha256");
    for (const f of [busybox, ...files]) hash.update(f);
    const cached = path.join(this.opts.dir, `initramfs-${hash.digest("hex").slice(0, 16)}.cpio`);
    if (fs.existsSync(cached)) return (this.base = fs.readFileSync(cached));
    const [init, stub, limits, pystub] = files;
    const dirs = ["/bin", "/etc", "/proc", "/sys", "/dev", "/work", "/kbs", GUEST_IN];
    this.base = cpio([
      ...dirs.map((d) => ({ name: d, mode: 0o755, type: "dir" as const })),
      { name: "/tmp", mode: 0o777, type: "symlink", data: "/work/.tmp" },
      { name: "/bin/busybox", mode: 0o755, type: "file", data: busybox },
      { name: "/init", mode: 0o755, type: "file", data: init },
      { name: "/kbs/stub.sh", mode: 0o644, type: "file", data: stub },
      { name: "/kbs/limits.sh", mode: 0o644, type: "file", data: limits },
      { name: "/kbs/pystub.sh", mode: 0o644, type: "file", data: pystub },
      { name: "/etc/passwd", mode: 0o644, type: "file", data: "root:x:0:0:root:/root:/bin/sh\nkbs:x:1000:1000:kbs sandbox:/work/.home:/bin/sh\n" },
      { name: "/etc/group", mode: 0o644, type: "file", data: "root:x:0:\nkbs:x:1000:\n" },
    ]);
    writeCache(cached, this.base, "initramfs-");
    return this.base;
  }
}

const usesPython = (image: string) => {
  const i = getImage(image);
  return i.qemu?.python ?? i.packages.includes("python3");
};

/** Connect to a unix socket qemu serves, retrying until qemu has made it. */
async function connectWhenServed(socketPath: string, timeoutMs = 30_000): Promise<net.Socket> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      const sock = net.connect(socketPath);
      await new Promise<void>((resolve, reject) => {
        sock.once("connect", resolve);
        sock.once("error", reject);
      });
      sock.on("error", () => {});
      return sock;
    } catch (e) {
      if (Date.now() > end) throw e;
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

/** Kill a VM's qemu process (its group) and wait until it is gone. */
async function killVm(pid: number | undefined, exited?: () => boolean): Promise<void> {
  const kill = () => killGroup(pid);
  kill();
  const gone = () => (exited ? exited() : !pid || !alive(pid));
  if (!(await waitGone(gone, kill))) throw new Error(`qemu ${pid} survived SIGKILL`);
}

async function readAll(input: RunRequest["stdin"]): Promise<Buffer> {
  if (input === undefined) return Buffer.alloc(0);
  if (!(input instanceof Readable)) return Buffer.from(input);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of input) {
    size += (c as Buffer).length;
    if (size > MAX_STDIN) throw new Error(`the qemu backend buffers stdin and takes at most ${MAX_STDIN} bytes`);
    chunks.push(Buffer.from(c as Buffer));
  }
  return Buffer.concat(chunks);
}

function envScript(env: Record<string, string>): string {
  return Object.entries({ ...BASE_ENV, ...env })
    .map(([k, v]) => {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new Error(`bad environment variable name "${k}"`);
      return `export ${k}=${q(v)}\n`;
    })
    .join("");
}

/** The shell script a warm qemu guest runs for a launch job (unpack, copy, cd, exec as the sandbox user). */
export function launchScript(job: LaunchJob): string {
  const env = envScript(job.env);
  const body = [
    ...job.extract.map((t) => `tar -x -f ${q(t)} -C /work || { echo "kbs sandbox: cannot unpack ${t}" >&2; exit 125; }`),
    ...(job.copy ?? []).map((c) => `cp ${q(c.from)} ${q(c.to)} || exit 125`),
    `cd ${q(job.cwd)} || exit 125`,
    `exec ${job.argv.map(q).join(" ")}`,
  ].join("\n");
  if (env.includes(END) || body.includes(END)) throw new Error(`launch job must not contain ${END}`);
  return [
    `stty -F /dev/ttyS0 cols ${job.cols} rows ${job.rows}`,
    `cat >/kbs/env.sh <<'${END}'`, env + END,
    `cat >/kbs/job.sh <<'${END}'`, body, END,
    "sh /kbs/limits.sh /kbs/job.sh",
    "",
  ].join("\n");
}

/**
 * The host end of a warm guest's control port (a unix socket qemu serves): sends resize
 * and the length of /kbs/in on the in-drive, receives /kbs/out and the job's exit code.
 */
class ControlChannel {
  exitCode: number | null = null;
  private sock: net.Socket | undefined;
  private buf = Buffer.alloc(0);
  private expectOut = -1;
  private outSeq = 0;
  private acks: Array<(ok: boolean) => void> = [];
  private work: Promise<unknown> = Promise.resolve();
  private done!: () => void;
  private readonly closedP = new Promise<void>((r) => (this.done = r));

  constructor(
    private readonly socketPath: string,
    private readonly outDir: string,
    private readonly inDrive: InDrive,
  ) {}

  async connect(): Promise<void> {
    const sock = await connectWhenServed(this.socketPath);
    sock.on("data", (d: Buffer) => this.onData(d));
    sock.on("close", () => {
      // A guest gone mid-handover answers no more: its launch fails instead of waiting.
      for (const ack of this.acks.splice(0)) ack(false);
      void this.work.then(() => this.done());
    });
    this.sock = sock;
  }

  send(line: string): void {
    this.sock?.write(line);
  }

  /**
   * /kbs/in into the guest: a tar of `dir` written into the sandbox's in-drive, then its
   * length over the port; the guest reads that many bytes off the disk and unpacks them.
   */
  async sendDir(dir: string): Promise<void> {
    if (!fs.readdirSync(dir).length) return;
    const need = tarSize(dir);
    if (need > this.inDrive.capacity) {
      throw new Error(`this session's files (${mib(need)} MiB) are more than a qemu sandbox takes in (${mib(this.inDrive.capacity)} MiB: its work size, at most ${WARM_IN_MAX / 2 ** 20} MiB): this tree needs KBS_SANDBOX=bwrap`);
    }
    const t0 = performance.now();
    const tar = await runProc("tar", ["-c", "-f", "-", "-C", dir, "."], { timeoutMs: 60_000, maxOutput: this.inDrive.capacity });
    if (tar.code !== 0) throw new Error(`cannot pack ${dir}: ${tar.stderr.toString().trim()}`);
    this.inDrive.write(tar.stdout);
    const acked = new Promise<boolean>((r) => this.acks.push(r));
    this.sock!.write(`in ${tar.stdout.length}\n`);
    if (!(await acked)) throw new Error("the qemu guest could not unpack /kbs/in from its drive");
    log.debug({ dir, bytes: tar.stdout.length, ms: Math.round(performance.now() - t0) }, "qemu guest took /kbs/in from its drive");
  }

  /** Resolves when qemu closed the port and what came through it was handled. */
  closed(): Promise<void> {
    if (!this.sock) return Promise.resolve();
    return Promise.race([this.closedP, new Promise<void>((r) => setTimeout(r, 3000))]);
  }

  destroy(): void {
    this.sock?.destroy();
    this.done();
  }

  /**
   * The guest's /kbs/out, as a tar it sent: parsed strictly into a fresh dir beside outDir,
   * then its top-level regular files renamed into outDir (where the session reads them).
   */
  private async takeOut(tar: Buffer): Promise<void> {
    const into = `${this.outDir}.incoming-${++this.outSeq}`;
    try {
      await collectTar(Readable.from([tar]), into, { maxBytes: GUEST_OUT_MAX, maxFiles: 64 });
      for (const name of fs.readdirSync(into)) {
        if (fs.lstatSync(path.join(into, name)).isFile()) fs.renameSync(path.join(into, name), path.join(this.outDir, name));
      }
    } catch (e) {
      log.warn({ err: e, dir: this.outDir }, "refused what a qemu guest sent back from /kbs/out");
    } finally {
      fs.rmSync(into, { recursive: true, force: true });
    }
  }

  private onData(d: Buffer): void {
    this.buf = Buffer.concat([this.buf, d]);
    for (;;) {
      if (this.expectOut >= 0) {
        if (this.buf.length < this.expectOut) return;
        const tar = this.buf.subarray(0, this.expectOut);
        this.buf = this.buf.subarray(this.expectOut);
        this.expectOut = -1;
        this.work = this.work.then(() => this.takeOut(tar));
        continue;
      }
      const nl = this.buf.indexOf(10);
      if (nl < 0) return;
      const line = this.buf.subarray(0, nl).toString().trim();
      this.buf = this.buf.subarray(nl + 1);
      const [cmd, arg] = line.split(" ");
      if (cmd === "ok" || cmd === "failed") this.acks.shift()?.(cmd === "ok");
      else if (cmd === "out") {
        this.expectOut = Number(arg);
        // The guest is untrusted: a size it cannot mean ends the channel rather than growing the buffer.
        if (!Number.isSafeInteger(this.expectOut) || this.expectOut < 0 || this.expectOut > GUEST_OUT_MAX) return this.destroy();
      }
      else if (cmd === "exit") this.exitCode = Number(arg);
    }
  }
}

