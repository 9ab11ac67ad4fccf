import type { WarmSandbox } from "../../server/sandbox/types";

/** Collect a warm sandbox's output until it exits (tests and the bench). */
export function outputUntilExit(sb: WarmSandbox): Promise<{ out: string; code: number | null }> {
  const chunks: Buffer[] = [];
  sb.onData((d) => chunks.push(d));
  return new Promise((resolve) => sb.onExit((e) => resolve({ out: Buffer.concat(chunks).toString("utf8"), code: e.code })));
}

/** Wait until `cond` holds, polling (no timing assertions: the test timeout bounds it). */
export async function until(cond: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A job that reports SIGWINCH and waits until its terminal is 120x40 (drive it with `resize`). */
export const resizeProbe = [
  "/bin/sh",
  "-c",
  "trap 'echo got-winch' WINCH; echo waiting-for-resize; while [ \"$(stty size)\" != '40 120' ]; do sleep 0.1; done; sleep 0.5; echo resized",
];
