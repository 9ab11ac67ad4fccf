/**
 * The sandbox contract every backend (bwrap, qemu, docker/podman) implements.
 * Everything that runs project code goes through it: menuconfig sessions (a warm
 * sandbox with a pty), olddefconfig/savedefconfig (run to completion), builds.
 *
 * Inside every sandbox: no network (unless a run asks for it with `network` and the
 * operator allowed it: a recipe's fetch stage only); read-only system; `/work` is a size-limited
 * writable tmpfs (the cwd by default); `HOME=/work/.home`; fixed env
 * (`TERM=xterm-256color`, `LANG=C.UTF-8`, `PATH=/usr/bin:/bin`) plus what the request adds;
 * only the binds the request names are visible from the host; rlimits applied;
 * the whole process tree dies when the sandbox is killed or kbs exits.
 */

import type { Readable } from "node:stream";

export interface Limits {
  cpuSeconds: number;
  memoryBytes: number;
  processes: number;
  fileSizeBytes: number;
  openFiles: number;
}

export interface Bind {
  host: string;
  guest: string;
  /**
   * bwrap as root runs each sandbox as its own host uid: a writable bind is chown'd to it
   * (recursively) unless it is world-writable; read-only binds must be world-readable.
   */
  writable?: boolean;
}

export interface SandboxRequest {
  /** sandbox-images/<image>: which system view and tools the sandbox gets. */
  image: string;
  /** Host paths handed in; nothing else from the host's data dir is visible. */
  binds?: Bind[];
  /** Size of the /work tmpfs. */
  workSizeBytes?: number;
  limits?: Partial<Limits>;
  env?: Record<string, string>;
  /** The host name inside (its own uts namespace); default: the backend's. Builds pin it (server/builds/identity.ts). */
  hostname?: string;
}

export interface RunRequest extends SandboxRequest {
  argv: string[];
  cwd?: string;
  /** Input for the job; a Readable is streamed (e.g. `git archive` into `tar -x`). */
  stdin?: Buffer | string | Readable;
  /** How many bytes of stdout and of stderr RunResult keeps (the last ones); default 4 MiB. */
  maxOutputBytes?: number;
  /** Streams output as it comes (build logs). */
  onOutput?: (chunk: Buffer, stream: "stdout" | "stderr") => void;
  /** Wall-clock limit; the whole tree is killed when it passes. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /**
   * Hand the job's outputs back: the job writes files under /kbs/out (inside its
   * size-limited /work, so they count against workSizeBytes); when it exits, the backend
   * streams /kbs/out out as one tar and kbs writes its regular files into `into` (a path
   * that must not exist yet) under the caps (sandbox/untrusted.ts). No host dir is
   * writable from the sandbox for this.
   */
  collect?: { into: string; maxBytes: number; maxFiles?: number };
  /**
   * The host's network, with its resolver and CA certificates (a recipe's fetch stage:
   * downloading sources). Refused by the sandbox service unless the operator set
   * KBS_FETCH_NETWORK=1; nothing else asks for it.
   */
  network?: boolean;
}

export interface RunResult {
  code: number | null;
  signal: string | null;
  timedOut: boolean;
  /** Bounded (the last bytes kept when output is larger). */
  stdout: Buffer;
  stderr: Buffer;
  durationMs: number;
  /** With `collect`: what was taken, or why the outputs were refused (nothing in `into` is then to be used). */
  collected?: { files: number; bytes: number } | { error: string };
}

/** What a warm sandbox is told to do once claimed. */
export interface LaunchJob {
  /** Tar files (guest paths, normally under /kbs/in) extracted into /work, in order, before launch. */
  extract: string[];
  /** Files to copy after extraction: guest source -> guest destination (e.g. /kbs/in/config -> /kbs/out/.config). */
  copy?: Array<{ from: string; to: string }>;
  cwd: string;
  /**
   * `["python3", script, ...args]` runs the script in the already-started interpreter
   * (the warm part: interpreter, curses and Kconfiglib are loaded); the script's own
   * directory goes first on sys.path so a tree's own kconfiglib wins. Anything else is exec'd.
   */
  argv: string[];
  env: Record<string, string>;
  cols: number;
  rows: number;
}

export interface Disposable {
  dispose(): void;
}

/** A sandbox started ahead of need, with a pty, waiting for `launch`. */
export interface WarmSandbox {
  readonly id: string;
  readonly backend: string;
  readonly image: string;
  /** Host dir the sandbox sees read-only at /kbs/in: put the bundle tar and starting config here before launch. */
  readonly inDir: string;
  /** Host dir the sandbox sees writable at /kbs/out: menuconfig writes the config here (KCONFIG_CONFIG=/kbs/out/.config). */
  readonly outDir: string;
  launch(job: LaunchJob): void;
  write(data: string | Buffer): void;
  resize(cols: number, rows: number): void;
  /** pty output as raw bytes (never decoded here, so UTF-8 is never split). */
  onData(cb: (data: Buffer) => void): Disposable;
  onExit(cb: (e: { code: number | null; signal: number | null }) => void): Disposable;
  pause(): void;
  resume(): void;
  /**
   * Ask the launched job to write its config now, as its own save would (the warm stub
   * makes Kconfiglib's menuconfig call its `write_config`). False where the backend or
   * the job cannot (qemu, mconf): then only the job's own saves reach /kbs/out.
   */
  requestSave?(): boolean;
  /** Kills the whole tree; resolves once no process of it is left. Removes inDir/outDir. */
  kill(): Promise<void>;
  readonly pid: number;
}

export interface PoolKey {
  image: string;
}

export interface SandboxBackend {
  readonly name: string;
  /** Whether this backend can run here, and if not, what to do about it. */
  available(): Promise<{ ok: boolean; reason?: string }>;
  run(req: RunRequest): Promise<RunResult>;
  startWarm(req: SandboxRequest & PoolKey): Promise<WarmSandbox>;
}
