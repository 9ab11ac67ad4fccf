import fs from "node:fs";
import path from "node:path";
import * as pty from "node-pty";
import { killGroup, trackGroup, untrackGroup } from "../core/proc";
import { which } from "../doctor";
import { checkGuestPath, chownTree, claimDir, removeStaleDirs, DEFAULT_WORK_SIZE, envOf, limitsOf, newSandboxId, passwdFiles } from "./common";
import { getImage, STUB_DIR } from "./images";
import { alive, descendantsNamed, pidsOfUid, waitGone } from "./procs";
import { runChild } from "./run-child";
import { seccompFilter } from "./seccomp";
import type { Bind, PoolKey, RunRequest, RunResult, SandboxBackend, SandboxRequest, WarmSandbox } from "./types";
import { UidAllocator } from "./uids";
import { OUT_IN_WORK, OutputCollector } from "./collector";
import { ConsoleWarmSandbox, type Console } from "./warm";
import { GUEST_IN, GUEST_OUT, GUEST_STUB } from "../core/guest-paths";

const BWRAP = "/usr/bin/bwrap";
const SECCOMP = seccompFilter();
/** What a networked run needs of the host's /etc: name resolution and the CA certificates. */
const NETWORK_FILES = ["/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf", "/etc/ssl", "/etc/ca-certificates", "/etc/wgetrc"];

export interface BwrapOptions {
  /** Where per-sandbox host dirs (in/, out/, passwd) are made: `<dataDir>/sandboxes`. */
  sandboxesDir: string;
  /** Root only: a distinct host uid per sandbox. Without it, sandboxes run as kbs's own uid. */
  uids?: UidAllocator;
}

/** One sandbox's host side: its dir, its uid, and how to tear it down. */
interface HostSide {
  id: string;
  dir: string;
  uid: number;
  gid: number;
  release(): void;
}

/**
 * The default backend: bubblewrap.
 *
 * As root (this deployment), bwrap runs privileged without a user namespace and the
 * sandbox's first process is `setpriv` dropping to the sandbox's own host uid (all
 * capabilities, the bounding set and groups dropped, no_new_privs set by bwrap) and then
 * `prlimit` lowering the rlimits before exec'ing the job. Root resolves the bind sources,
 * so host dirs handed in need no traversable parents; writable ones are chown'd to the uid.
 *
 * A seccomp filter (seccomp.ts) refuses new user namespaces, mount, keyrings, bpf,
 * io_uring and the like.
 *
 * Not as root, bwrap makes a user namespace (`--unshare-all --disable-userns`) and the
 * job runs as kbs's own uid: RLIMIT_NPROC then counts all of that user's processes, so
 * the fork-bomb ceiling is shared with kbs itself (a weaker guarantee).
 */
export class BwrapBackend implements SandboxBackend {
  readonly name = "bwrap";

  constructor(private readonly opts: BwrapOptions) {
    fs.mkdirSync(opts.sandboxesDir, { recursive: true });
    removeStaleDirs(opts.sandboxesDir);
  }

  async available(): Promise<{ ok: boolean; reason?: string }> {
    if (!fs.existsSync(BWRAP) && !which("bwrap", process.env)) return { ok: false, reason: "bwrap not installed: apt-get install bubblewrap" };
    const r = await this.run({ image: "menuconfig", argv: ["/bin/true"], timeoutMs: 20_000 }).catch((e: Error) => e);
    if (r instanceof Error) return { ok: false, reason: r.message };
    if (r.code !== 0) return { ok: false, reason: `a bwrap sandbox did not start: ${r.stderr.toString().trim()}` };
    return { ok: true };
  }

  async run(req: RunRequest): Promise<RunResult> {
    const host = this.hostSide(req);
    try {
      const collector = req.collect && new OutputCollector(req.collect);
      const argv = collector ? collector.guestArgv(req.argv) : req.argv;
      const args = this.args(host, req, { argv, cwd: req.cwd ?? "/work", newSession: true, outInWork: !!collector, network: req.network });
      const result = await runChild("/bin/sh", this.withSeccomp(host, args), req, (pid) => this.killTree(pid, host), collector?.io() ?? {});
      return collector ? { ...result, collected: await collector.result() } : result;
    } finally {
      this.cleanup(host);
    }
  }

  async startWarm(req: SandboxRequest & PoolKey): Promise<WarmSandbox> {
    const image = getImage(req.image);
    const host = this.hostSide(req);
    const inDir = path.join(host.dir, "in");
    const outDir = path.join(host.dir, "out");
    fs.mkdirSync(inDir, { mode: 0o755 });
    fs.mkdirSync(outDir, { mode: 0o755 });
    fs.chownSync(outDir, host.uid, host.gid);
    const binds: Bind[] = [
      { host: inDir, guest: GUEST_IN },
      { host: outDir, guest: GUEST_OUT, writable: true },
      ...(req.binds ?? []),
    ];
    const args = this.args(host, { ...req, binds }, { argv: image.warm, cwd: "/work", newSession: false, stub: true });
    // No --new-session here: the job's terminal is this sandbox's own pty (TIOCSTI can only
    // reach the sandbox's own input), and curses needs it as its controlling terminal.
    const term = pty.spawn("/bin/sh", this.withSeccomp(host, args), { name: "xterm-256color", cols: 80, rows: 24, cwd: "/", env: {}, encoding: null });
    trackGroup(term.pid);
    const console = ptyConsole(term);
    let exited = false;
    console.onExit(() => {
      exited = true;
      untrackGroup(term.pid);
    });
    const sandbox = new ConsoleWarmSandbox(host.id, this.name, req.image, inDir, outDir, console, async () => {
      try {
        await this.killTree(term.pid, host, () => exited);
      } finally {
        this.cleanup(host);
      }
    });
    await sandbox.ready;
    return sandbox;
  }

  /** Make the sandbox's host dir, pick its uid, and prepare writable binds for that uid. */
  private hostSide(req: SandboxRequest): HostSide {
    getImage(req.image);
    for (const b of req.binds ?? []) {
      checkGuestPath(b.guest);
      if (!path.isAbsolute(b.host) || !fs.existsSync(b.host)) throw new Error(`bind source "${b.host}" does not exist (binds need absolute host paths)`);
    }
    const id = newSandboxId();
    const uid = this.opts.uids ? this.opts.uids.allocate() : (process.getuid?.() ?? 0);
    const gid = this.opts.uids ? uid : (process.getgid?.() ?? 0);
    const dir = path.join(this.opts.sandboxesDir, id);
    try {
      fs.mkdirSync(dir, { mode: 0o755 });
      claimDir(dir);
      const files = passwdFiles(uid, gid);
      fs.writeFileSync(path.join(dir, "passwd"), files.passwd, { mode: 0o644 });
      fs.writeFileSync(path.join(dir, "group"), files.group, { mode: 0o644 });
      // Writable binds become the sandbox uid's, unless they are world-writable already
      // (shared caches used by several sandboxes at once, like the builds' ccache dir).
      if (this.opts.uids) for (const b of req.binds ?? []) if (b.writable && !(fs.statSync(b.host).mode & 0o002)) chownTree(b.host, uid, gid);
    } catch (e) {
      this.opts.uids?.release(uid);
      throw e;
    }
    return { id, dir, uid, gid, release: () => this.opts.uids?.release(uid) };
  }

  /**
   * bwrap reads the seccomp program from an fd: a shell opens the filter file as fd 3 and
   * execs bwrap (node-pty cannot hand a child extra fds).
   */
  private withSeccomp(host: HostSide, args: string[]): string[] {
    const file = path.join(host.dir, "seccomp.bpf");
    fs.writeFileSync(file, SECCOMP);
    return ["-c", `exec ${BWRAP} --seccomp 3 "$@" 3<"$0"`, file, ...args];
  }

  private cleanup(host: HostSide): void {
    fs.rmSync(host.dir, { recursive: true, force: true });
    host.release();
  }

  /**
   * Kill the sandbox's whole tree: its process group (the outer bwrap) — the sandbox's
   * pid 1 gets SIGKILL from --die-with-parent and takes the pid namespace with it — and,
   * as root, anything still running under the sandbox's uid. Resolves once none is left.
   */
  private async killTree(pid: number | undefined, host: HostSide, exited?: () => boolean): Promise<void> {
    const byUid = !!this.opts.uids;
    const kill = () => {
      if (pid) killGroup(pid);
      if (byUid) for (const p of pidsOfUid(host.uid)) killGroup(p);
    };
    kill();
    const gone = () => (exited ? exited() : !pid || !alive(pid)) && (!byUid || pidsOfUid(host.uid).length === 0);
    if (!(await waitGone(gone, kill))) throw new Error(`sandbox ${host.id}: processes survived SIGKILL`);
  }

  private args(
    host: HostSide,
    req: SandboxRequest,
    job: { argv: string[]; cwd: string; newSession: boolean; stub?: boolean; outInWork?: boolean; network?: boolean },
  ): string[] {
    const image = getImage(req.image);
    const limits = limitsOf(req);
    const a: string[] = [];
    // The network only for a run that asks for it (a fetch stage), which the sandbox service allowed.
    const network = job.network === true;
    if (this.opts.uids) {
      // Privileged bwrap, no user namespace: the job becomes the sandbox uid through setpriv.
      a.push("--unshare-ipc", "--unshare-pid", ...(network ? [] : ["--unshare-net"]), "--unshare-uts", "--unshare-cgroup-try");
      a.push("--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_SETPCAP");
    } else {
      a.push("--unshare-all", ...(network ? ["--share-net"] : []), "--unshare-user", "--disable-userns");
    }
    if (req.hostname) a.push("--hostname", req.hostname);
    a.push("--die-with-parent");
    if (job.newSession) a.push("--new-session");
    a.push("--perms", "0755", "--dir", "/etc");
    for (const dir of image.bwrap.roBinds) a.push("--ro-bind-try", dir, dir);
    if (network) for (const file of NETWORK_FILES) a.push("--ro-bind-try", file, file);
    a.push("--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64", "--symlink", "usr/sbin", "/sbin");
    a.push("--proc", "/proc", "--dev", "/dev");
    a.push("--ro-bind", path.join(host.dir, "passwd"), "/etc/passwd", "--ro-bind", path.join(host.dir, "group"), "/etc/group");
    a.push("--perms", "1777", "--size", String(req.workSizeBytes ?? DEFAULT_WORK_SIZE), "--tmpfs", "/work");
    a.push("--perms", "1777", "--dir", "/work/.home", "--perms", "1777", "--dir", "/work/.tmp", "--symlink", "/work/.tmp", "/tmp");
    a.push("--perms", "0755", "--dir", "/kbs");
    if (job.stub) a.push("--ro-bind", STUB_DIR, GUEST_STUB);
    // Collected outputs live inside the size-limited /work, so they count against its quota.
    if (job.outInWork) a.push("--perms", "1777", "--dir", `/work/${OUT_IN_WORK}`, "--symlink", `/work/${OUT_IN_WORK}`, GUEST_OUT);
    for (const b of req.binds ?? []) a.push(b.writable ? "--bind" : "--ro-bind", b.host, b.guest);
    a.push("--clearenv");
    for (const [k, v] of Object.entries(envOf(req))) a.push("--setenv", k, v);
    a.push("--chdir", job.cwd, "--");
    if (this.opts.uids) {
      a.push("/usr/bin/setpriv", `--reuid=${host.uid}`, `--regid=${host.gid}`, "--clear-groups", "--inh-caps=-all", "--bounding-set=-all");
    }
    a.push(
      "/usr/bin/prlimit",
      `--cpu=${limits.cpuSeconds}`,
      `--as=${limits.memoryBytes}`,
      `--nproc=${limits.processes}`,
      `--fsize=${limits.fileSizeBytes}`,
      `--nofile=${limits.openFiles}`,
      "--core=0",
      "--",
      ...job.argv,
    );
    return a;
  }
}

function ptyConsole(term: pty.IPty): Console {
  return {
    pid: term.pid,
    // With `encoding: null` node-pty hands out Buffers; its typings still say string.
    onData: (cb) => void term.onData((d) => cb(d as unknown as Buffer)),
    onExit: (cb) => void term.onExit((e) => cb({ code: e.exitCode, signal: e.signal ?? null })),
    write: (d) => term.write(d as string),
    resize: (c, r) => term.resize(c, r),
    pause: () => term.pause(),
    resume: () => term.resume(),
    // The stub runs as /usr/bin/python3 somewhere below the pty's shell, bwrap and setpriv.
    signalStub: (signal) => {
      const pids = descendantsNamed(term.pid, "python3");
      for (const pid of pids) {
        try {
          process.kill(pid, signal);
        } catch {
          /* exited meanwhile */
        }
      }
      return pids.length > 0;
    },
  };
}
