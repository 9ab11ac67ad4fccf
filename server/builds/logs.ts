import fs from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { log } from "../core/log";

/**
 * Build logs: `data/logs/<id>.log`, written by whichever worker runs the build (in
 * this process or another one sharing the data dir), kept whole on success too.
 * Readers follow the file, so a live log works the same for both queue engines.
 */
export class BuildLogs {
  readonly dir: string;
  /** Followers waiting for more of a log, woken when its build ends in this process (others poll). */
  private readonly waiting = new Map<string, Set<() => void>>();

  constructor(dataDir: string) {
    this.dir = path.join(dataDir, "logs");
    fs.mkdirSync(this.dir, { recursive: true });
  }

  path(id: string): string {
    return path.join(this.dir, `${id}.log`);
  }

  /** An append-only writer for one attempt of a build; a runaway build's log stops at `maxBytes`, saying so. */
  writer(id: string, maxBytes = 64 * 1024 * 1024): { write(text: string | Buffer): void; close(): Promise<void> } {
    const stream = fs.createWriteStream(this.path(id), { flags: "a" });
    // A log that cannot be written (a full data disk) must not take the process down; the build's state says what failed.
    stream.on("error", (e) => log.warn({ err: e, build: id }, "build log not written"));
    let written = 0;
    return {
      write: (text) => {
        if (written > maxBytes) return;
        written += Buffer.byteLength(text);
        stream.write(written > maxBytes ? `\nkbs: the log passed ${maxBytes >> 20} MB; the rest of the build's output is not kept\n` : text);
      },
      close: () => new Promise<void>((resolve) => (stream.destroyed ? resolve() : stream.end(resolve))),
    };
  }

  /** The last `n` lines of the log (for the error summary). */
  tail(id: string, n: number): string[] {
    let text = "";
    try {
      const fd = fs.openSync(this.path(id), "r");
      try {
        const size = fs.fstatSync(fd).size;
        const len = Math.min(size, 64 * 1024);
        const buf = Buffer.alloc(len);
        fs.readSync(fd, buf, 0, len, size - len);
        text = buf.toString("utf8");
      } finally {
        fs.closeSync(fd);
      }
    } catch {
      return [];
    }
    return text.replace(/\r/g, "").split("\n").filter((l) => l.trim() !== "").slice(-n);
  }

  /**
   * The log's bytes from the start, then whatever is appended, until `done()` says the
   * build has ended and everything written has been read (or `signal` aborts).
   */
  async *follow(id: string, done: () => boolean, signal?: AbortSignal): AsyncGenerator<Buffer> {
    let offset = 0;
    const file = this.path(id);
    while (!signal?.aborted) {
      const finished = done(); // read before the file so the last bytes are never missed
      let chunk: Buffer | undefined;
      try {
        const fd = fs.openSync(file, "r");
        try {
          const size = fs.fstatSync(fd).size;
          if (size > offset) {
            chunk = Buffer.alloc(Math.min(size - offset, 1024 * 1024));
            fs.readSync(fd, chunk, 0, chunk.length, offset);
            offset += chunk.length;
          }
        } finally {
          fs.closeSync(fd);
        }
      } catch {
        /* not written yet */
      }
      if (chunk) {
        yield chunk;
        continue;
      }
      if (finished) return;
      await this.nextPoll(id, signal);
    }
  }

  /** The build ended here: its followers read the rest now, not at their next poll. */
  ended(id: string): void {
    for (const wake of this.waiting.get(id) ?? []) wake();
  }

  /** 200 ms, or less when `ended(id)` comes first. */
  private async nextPoll(id: string, signal?: AbortSignal): Promise<void> {
    const ac = new AbortController();
    const wake = () => ac.abort();
    signal?.addEventListener("abort", wake, { once: true });
    const set = this.waiting.get(id) ?? new Set();
    this.waiting.set(id, set.add(wake));
    try {
      await sleep(200, undefined, { signal: ac.signal }).catch(() => undefined);
    } finally {
      signal?.removeEventListener("abort", wake);
      set.delete(wake);
      if (!set.size && this.waiting.get(id) === set) this.waiting.delete(id);
    }
  }

  /** A build's log and its verify run's log. */
  remove(id: string): void {
    fs.rmSync(this.path(id), { force: true });
    fs.rmSync(this.path(`${id}-verify`), { force: true });
  }

  /** Every stored log's build id, size and age (janitor). */
  list(): Array<{ id: string; size: number; mtimeMs: number }> {
    return fs
      .readdirSync(this.dir)
      .filter((f) => f.endsWith(".log"))
      .map((f) => {
        const st = fs.statSync(path.join(this.dir, f));
        return { id: f.slice(0, -4), size: st.size, mtimeMs: st.mtimeMs };
      });
  }
}
