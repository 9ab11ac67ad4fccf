import fs from "node:fs";
import path from "node:path";
import type { Readable } from "node:stream";
import { safeRelative, UnsafeTarError } from "../revdb/extract";
import { BLOCK, checksumOk, cstr, octal, parsePax } from "../core/tar";

/**
 * Reading what a sandbox left behind. Everything there was written by code kbs does not
 * trust (a tree's Makefile, a config string that make expands, a tree's own menuconfig),
 * so the host never follows a link it made, never blocks on a FIFO or device it made, and
 * never reads more than a cap. Two ways in:
 *
 * - `collectTar`: a one-shot sandbox hands its whole /kbs/out back as one ustar stream
 *   (on fd 4, see RunRequest.collect); only regular files and directories with plain
 *   relative names are written, into a fresh kbs-made dir, under a byte and file cap.
 * - `readUntrusted`: one regular file directly inside a dir kbs made and bound writable
 *   into a live sandbox (a session's `.config`), opened O_NOFOLLOW|O_NONBLOCK and
 *   checked with fstat, read asynchronously up to a cap.
 */

export class UntrustedOutputError extends Error {}

export interface CollectLimits {
  /** All file bytes together. */
  maxBytes: number;
  maxFiles: number;
}

/** Control characters and bidi overrides have no place in an output's name. */
const BAD_NAME = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

/** Names kbs writes itself beside a build's outputs; an output may not take them. */
export const RESERVED_OUTPUT_NAMES = ["manifest.json", "reproduce.sh", "vm-manifest.json"] as const;

/**
 * Parse the ustar stream `src` and write its regular files under `dest` (created here, must
 * not exist). Anything else (links, devices, FIFOs, absolute or climbing names, a file
 * over the caps, a stream that is not a tar) rejects with UntrustedOutputError naming it;
 * what was written so far stays in `dest` for the caller to throw away.
 */
export async function collectTar(src: Readable | AsyncIterable<Buffer>, dest: string, limits: CollectLimits): Promise<{ files: number; bytes: number }> {
  fs.mkdirSync(dest, { recursive: false, mode: 0o755 });
  const made = new Set<string>([""]);
  let files = 0;
  let bytes = 0;
  let pending = Buffer.alloc(0);
  let pax: Record<string, string> = {};
  let started = false;
  /** The file being written, and how much of its data and padding is still to come. */
  let current: { fd: fs.promises.FileHandle; left: number; pad: number } | undefined;
  let skip = 0;
  let ended = false;

  const dirFor = async (rel: string) => {
    const parts = rel.split("/").slice(0, -1);
    for (let i = 1; i <= parts.length; i++) {
      const d = parts.slice(0, i).join("/");
      if (made.has(d)) continue;
      await fs.promises.mkdir(path.join(dest, d), { mode: 0o755 }).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== "EEXIST") throw e;
      });
      made.add(d);
    }
  };

  const header = async (h: Buffer) => {
    if (!checksumOk(h)) throw new UntrustedOutputError(started ? "the outputs' archive is corrupt (bad header checksum)" : "the sandbox's outputs are not a tar archive");
    started = true;
    const flag = String.fromCharCode(h[156]!);
    const size = pax.size !== undefined ? Number(pax.size) : octal(h, 124, 12);
    if (!Number.isSafeInteger(size) || size < 0) throw new UntrustedOutputError("the outputs' archive has a bad size field");
    if (flag === "x") {
      if (size > 64 * 1024) throw new UntrustedOutputError("the outputs' archive has an oversize pax header");
      return { paxHeader: size };
    }
    let name = cstr(h, 0, 100);
    if (h.toString("latin1", 257, 263) === "ustar\0") {
      const prefix = cstr(h, 345, 155);
      if (prefix) name = `${prefix}/${name}`;
    }
    name = pax.path ?? name;
    pax = {};
    if (name === "." || name === "./") return { skip: size };
    if (BAD_NAME.test(name)) throw new UntrustedOutputError(`refused an output whose name has control characters: ${JSON.stringify(name)}`);
    let rel: string;
    try {
      rel = safeRelative(name);
    } catch (e) {
      throw new UntrustedOutputError(`refused an output: ${(e as UnsafeTarError).message}`);
    }
    if (flag === "5") {
      await dirFor(`${rel}/x`);
      return { skip: size };
    }
    if (flag !== "0" && flag !== "\0" && flag !== "7") {
      const what = { "1": "a hard link", "2": "a symbolic link", "3": "a device", "4": "a device", "6": "a FIFO" }[flag] ?? `an entry of type '${flag}'`;
      throw new UntrustedOutputError(`refused the output '${rel}': it is ${what}, and only regular files are taken from a sandbox`);
    }
    files += 1;
    bytes += size;
    if (files > limits.maxFiles) throw new UntrustedOutputError(`the sandbox left more than ${limits.maxFiles} output files`);
    if (bytes > limits.maxBytes) throw new UntrustedOutputError(`the sandbox's outputs are larger than the ${Math.round(limits.maxBytes / 2 ** 20)} MB allowed`);
    await dirFor(rel);
    const mode = octal(h, 100, 8) & 0o111 ? 0o755 : 0o644;
    // "wx": a fresh file; nothing in dest was made by anyone but this function.
    const fd = await fs.promises.open(path.join(dest, rel), "wx", mode);
    return { file: { fd, left: size, pad: (BLOCK - (size % BLOCK)) % BLOCK } };
  };

  let paxLeft = -1;
  let paxBuf: Buffer[] = [];
  try {
    for await (const chunk of src as AsyncIterable<Buffer>) {
      if (ended) continue; // drain what follows the end marker
      let buf = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      pending = Buffer.alloc(0);
      while (buf.length) {
        if (current) {
          if (current.left > 0) {
            const part = buf.subarray(0, current.left);
            await current.fd.write(part);
            current.left -= part.length;
            buf = buf.subarray(part.length);
            continue;
          }
          skip = current.pad;
          await current.fd.close();
          current = undefined;
          continue;
        }
        if (paxLeft >= 0) {
          const part = buf.subarray(0, paxLeft);
          paxBuf.push(part);
          paxLeft -= part.length;
          buf = buf.subarray(part.length);
          if (paxLeft === 0) {
            const data = Buffer.concat(paxBuf);
            pax = parsePax(data);
            skip = (BLOCK - (data.length % BLOCK)) % BLOCK;
            paxLeft = -1;
            paxBuf = [];
          }
          continue;
        }
        if (skip > 0) {
          const n = Math.min(skip, buf.length);
          skip -= n;
          buf = buf.subarray(n);
          continue;
        }
        if (buf.length < BLOCK) {
          pending = Buffer.from(buf);
          break;
        }
        const h = buf.subarray(0, BLOCK);
        buf = buf.subarray(BLOCK);
        if (h.every((b) => b === 0)) {
          ended = true;
          break;
        }
        const next = await header(h);
        if ("file" in next && next.file) current = next.file;
        else if ("paxHeader" in next) {
          paxLeft = next.paxHeader!;
          if (paxLeft === 0) paxLeft = -1;
        } else skip = next.skip ?? 0;
      }
    }
    if (current && current.left === 0) {
      await current.fd.close();
      current = undefined;
    }
    if (current || paxLeft >= 0 || (!ended && started)) throw new UntrustedOutputError("the sandbox's outputs stopped mid-way (a truncated archive)");
    if (!started) throw new UntrustedOutputError("the sandbox handed back no outputs");
    return { files, bytes };
  } finally {
    await current?.fd.close().catch(() => {});
  }
}

const MB = 2 ** 20;

/**
 * One regular file a live sandbox wrote directly into `dir` (a kbs-made dir bound into it),
 * or undefined when there is none. A link, FIFO, device or directory there, or a file over
 * `maxBytes`, rejects with UntrustedOutputError. Never blocks the event loop.
 */
export async function readUntrusted(dir: string, name: string, maxBytes = 16 * MB): Promise<Buffer | undefined> {
  if (name.includes("/") || name === ".." || name === ".") throw new Error(`readUntrusted takes a plain file name, not '${name}'`);
  let fh: fs.promises.FileHandle;
  try {
    fh = await fs.promises.open(path.join(dir, name), fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK | fs.constants.O_NOCTTY);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return undefined;
    // O_NOFOLLOW on a symbolic link.
    if (code === "ELOOP") throw new UntrustedOutputError(`'${name}' is a symbolic link; kbs reads only regular files a sandbox wrote`);
    throw e;
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new UntrustedOutputError(`'${name}' is not a regular file; kbs reads only regular files a sandbox wrote`);
    if (st.size > maxBytes) throw new UntrustedOutputError(`'${name}' is ${Math.round(st.size / MB)} MB, over the ${Math.round(maxBytes / MB)} MB kbs reads`);
    const buf = Buffer.alloc(Math.min(st.size, maxBytes) + 1);
    let got = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, got, buf.length - got, got);
      if (!bytesRead) break;
      got += bytesRead;
      // A file still being written may have grown since fstat: what was read is a partial copy (callers check).
      if (got === buf.length) break;
    }
    if (got > maxBytes) throw new UntrustedOutputError(`'${name}' grew past the ${Math.round(maxBytes / MB)} MB kbs reads`);
    return buf.subarray(0, got);
  } finally {
    await fh.close();
  }
}
