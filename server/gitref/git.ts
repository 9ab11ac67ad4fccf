import type { Readable } from "node:stream";
import { run, spawnGroup } from "../core/proc";
import { procEnv } from "../core/settings";

/**
 * Git as kbs runs it: no user or system config, no prompts (a remote that wants a
 * password fails at once instead of hanging), no `ext::` transport, and a fixed
 * locale so messages are stable. User strings never reach git as options: callers
 * put them after `--end-of-options` or `--`, or feed them on stdin.
 */
export function gitEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return procEnv({
    PATH: process.env.PATH,
    HOME: "/nonexistent",
    LANG: "C",
    LC_ALL: "C",
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_CONFIG_GLOBAL: "/dev/null",
    GIT_TERMINAL_PROMPT: "0",
    GIT_ASKPASS: "/bin/false",
    SSH_ASKPASS: "/bin/false",
    GIT_SSH_COMMAND: "ssh -o BatchMode=yes -o ConnectTimeout=20",
    ...extra,
  });
}

const baseArgs = ["-c", "protocol.ext.allow=never", "-c", "core.quotePath=false"];

export class GitError extends Error {
  constructor(
    message: string,
    readonly stderr: string,
    readonly code: number | null,
  ) {
    super(message);
  }
}

/** What a person needs from git's stderr: its fatal/error lines, else its last lines. */
export function gitMessage(stderr: string): string {
  const lines = stderr
    .split(/[\r\n]/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("hint:"));
  const errors = lines.filter((l) => /^(fatal|error):/.test(l));
  return (errors.length ? errors.slice(0, 2) : lines.slice(-2)).join(" ") || "git failed without a message";
}

export interface GitOptions {
  input?: Buffer | string;
  timeoutMs?: number;
  env?: Record<string, string>;
  /** Exit codes that are not errors (e.g. 1 for `cat-file -e`). */
  okCodes?: number[];
}

/** Run git in a repository (a bare one: `gitDir`) and return stdout; throws GitError with git's message. */
export async function git(gitDir: string, args: string[], opts: GitOptions = {}): Promise<Buffer> {
  const r = await run("git", [...baseArgs, "--git-dir", gitDir, ...args], {
    input: opts.input,
    timeoutMs: opts.timeoutMs ?? 120_000,
    env: gitEnv(opts.env),
    maxOutput: 1024 * 1024 * 1024,
  });
  const ok = r.code === 0 || (r.code !== null && (opts.okCodes ?? []).includes(r.code));
  if (!ok) {
    const stderr = r.stderr.toString("utf8");
    const why = r.signal ? `killed by ${r.signal}` : gitMessage(stderr);
    throw new GitError(`git ${args[0]}: ${why}`, stderr, r.code);
  }
  return r.stdout;
}

export async function gitText(gitDir: string, args: string[], opts: GitOptions = {}): Promise<string> {
  return (await git(gitDir, args, opts)).toString("utf8");
}

/** A long-running git process whose stdout is consumed as a stream (archive, log over big histories). */
export function gitStream(gitDir: string, args: string[], opts: { stdin?: string } = {}): { stdout: Readable; done: Promise<void> } {
  const child = spawnGroup("git", [...baseArgs, "--git-dir", gitDir, ...args], {
    env: gitEnv(),
    stdio: [opts.stdin === undefined ? "ignore" : "pipe", "pipe", "pipe"],
  });
  if (opts.stdin !== undefined) {
    child.stdin!.on("error", () => {});
    child.stdin!.end(opts.stdin);
  }
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => {
    if (stderr.length < 64 * 1024) stderr += d.toString("utf8");
  });
  const done = new Promise<void>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) => {
      if (code === 0) resolve();
      else reject(new GitError(`git ${args[0]}: ${signal ? `killed by ${signal}` : gitMessage(stderr)}`, stderr, code));
    });
  });
  done.catch(() => {});
  return { stdout: child.stdout!, done };
}
