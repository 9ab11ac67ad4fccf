import type { ChildProcess } from "node:child_process";
import type { Readable } from "node:stream";
import type { ChildIo } from "./run-child";
import type { RunRequest, RunResult } from "./types";
import { collectTar } from "./untrusted";
import { GUEST_OUT } from "../core/guest-paths";

/** Where /kbs/out points inside a collecting sandbox: a dir of its size-limited /work. */
export const OUT_IN_WORK = ".kbs-out";
/** The fd the job's outputs come out on (0-2 are stdio, 3 carries the seccomp filter into bwrap). */
export const COLLECT_FD = 4;

const DEFAULT_MAX_FILES = 100_000;

/**
 * RunRequest.collect for backends that run the job as a child with pipes (bwrap): the job
 * runs under a small guest shell that, once the job has exited, writes /kbs/out as a
 * ustar stream to fd 4; the host parses it strictly into `collect.into`.
 */
export class OutputCollector {
  private done: Promise<NonNullable<RunResult["collected"]>> | undefined;

  constructor(private readonly collect: NonNullable<RunRequest["collect"]>) {}

  /** The job, then the tar of its outputs; the job's exit code is the sandbox's. */
  guestArgv(argv: string[]): string[] {
    const script = `rc=0; "$@" || rc=$?; cd ${GUEST_OUT} 2>/dev/null && /usr/bin/tar --format=ustar -cf - . >&${COLLECT_FD}; exit $rc`;
    return ["/bin/sh", "-c", script, "kbs-job", ...argv];
  }

  io(): ChildIo {
    const waitFor: Array<Promise<unknown>> = [];
    return {
      fds: COLLECT_FD + 1,
      waitFor,
      onSpawn: (child: ChildProcess) => {
        const stream = child.stdio[COLLECT_FD] as Readable;
        this.done = this.take(stream);
        waitFor.push(this.done);
      },
    };
  }

  /** What was collected; call after the run. */
  result(): Promise<NonNullable<RunResult["collected"]>> {
    return this.done ?? Promise.resolve({ error: "the sandbox did not start" });
  }

  /** Never rejects: a refused output is a result the caller reports (and the stream is dropped, so the guest's tar stops). */
  private async take(stream: Readable): Promise<NonNullable<RunResult["collected"]>> {
    try {
      return await collectTar(stream, this.collect.into, { maxBytes: this.collect.maxBytes, maxFiles: this.collect.maxFiles ?? DEFAULT_MAX_FILES });
    } catch (e) {
      stream.destroy();
      return { error: (e as Error).message };
    }
  }
}
