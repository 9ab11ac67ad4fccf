import type { Readable } from "node:stream";

/**
 * A small tar reader and writer (ustar, with pax and GNU long names on read), so
 * kbs controls every byte of a bundle and can inspect every entry of an upload or
 * a source tarball before anything touches the disk.
 */
export type TarEntryType = "file" | "dir" | "symlink" | "hardlink" | "device" | "fifo" | "other";

export interface TarEntry {
  path: string;
  type: TarEntryType;
  /** Permission bits (e.g. 0o755). */
  mode: number;
  linkname: string;
  /** File content (empty for everything but files). */
  data: Buffer;
}

export class TarFormatError extends Error {}

export const BLOCK = 512;

export function cstr(buf: Buffer, start: number, len: number): string {
  const end = buf.indexOf(0, start);
  return buf.toString("utf8", start, end === -1 || end > start + len ? start + len : end);
}

export function octal(buf: Buffer, start: number, len: number): number {
  if (buf[start]! & 0x80) {
    // GNU base-256 for large values.
    let v = 0;
    for (let i = start + 1; i < start + len; i++) v = v * 256 + buf[i]!;
    return v;
  }
  const s = cstr(buf, start, len).trim();
  if (s && !/^[0-7]+$/.test(s)) throw new TarFormatError(`bad octal field '${s}'`);
  return s ? parseInt(s, 8) : 0;
}

export function checksumOk(h: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
  try {
    return sum === octal(h, 148, 8);
  } catch {
    return false;
  }
}

export function parsePax(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < data.length) {
    const sp = data.indexOf(0x20, i);
    if (sp === -1) break;
    const len = parseInt(data.toString("utf8", i, sp), 10);
    if (!len) break;
    const rec = data.toString("utf8", sp + 1, i + len - 1);
    const eq = rec.indexOf("=");
    if (eq > 0) out[rec.slice(0, eq)] = rec.slice(eq + 1);
    i += len;
  }
  return out;
}

const typeOf: Record<string, TarEntryType> = { "0": "file", "\0": "file", "7": "file", "5": "dir", "2": "symlink", "1": "hardlink", "3": "device", "4": "device", "6": "fifo" };

/**
 * A push parser: feed chunks, get whole entries back. Chunks are only joined once an
 * entry is complete, so a large file spread over many chunks is copied once.
 */
export class TarParser {
  private chunks: Buffer[] = [];
  private have = 0;
  private longName: string | undefined;
  private longLink: string | undefined;
  private pax: Record<string, string> = {};
  private started = false;
  private finished = false;
  /** Bytes needed before parsing can go on (a header, or a header and its data). */
  private need = BLOCK;

  push(chunk: Buffer): TarEntry[] {
    const out: TarEntry[] = [];
    if (this.finished) return out;
    this.chunks.push(chunk);
    this.have += chunk.length;
    for (;;) {
      if (this.have < this.need) return out;
      const buf = this.join();
      const h = buf.subarray(0, BLOCK);
      if (h.every((b) => b === 0)) {
        this.finished = true;
        return out;
      }
      if (!checksumOk(h)) throw new TarFormatError(this.started ? "corrupt tar header (bad checksum)" : "not a tar archive");
      this.started = true;
      const flag = String.fromCharCode(h[156]!);
      const size = this.pax.size !== undefined ? Number(this.pax.size) : octal(h, 124, 12);
      const total = BLOCK + Math.ceil(size / BLOCK) * BLOCK;
      if (this.have < total) {
        this.need = total;
        return out;
      }
      this.need = BLOCK;
      const data = Buffer.from(buf.subarray(BLOCK, BLOCK + size));
      this.chunks = buf.length > total ? [buf.subarray(total)] : [];
      this.have -= total;
      const entry = this.entry(h, flag, data);
      if (entry) out.push(entry);
    }
  }

  /** Call at the end of input: an archive that stops mid-way is an error. */
  end(): void {
    if (this.finished) return;
    if (!this.started) throw new TarFormatError(this.have ? "not a tar archive (shorter than one tar block)" : "empty input, not a tar archive");
    throw new TarFormatError("truncated tar archive (no end marker)");
  }

  private join(): Buffer {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0]!;
  }

  private entry(h: Buffer, flag: string, data: Buffer): TarEntry | undefined {
    if (flag === "x") {
      this.pax = { ...this.pax, ...parsePax(data) };
      return undefined;
    }
    if (flag === "g") return undefined;
    if (flag === "L" || flag === "K") {
      const text = cstr(data, 0, data.length);
      if (flag === "L") this.longName = text;
      else this.longLink = text;
      return undefined;
    }
    let name = cstr(h, 0, 100);
    if (h.toString("latin1", 257, 263) === "ustar\0") {
      const prefix = cstr(h, 345, 155);
      if (prefix) name = `${prefix}/${name}`;
    }
    name = this.pax.path ?? this.longName ?? name;
    const linkname = this.pax.linkpath ?? this.longLink ?? cstr(h, 157, 100);
    this.pax = {};
    this.longName = this.longLink = undefined;
    const type = typeOf[flag] ?? "other";
    return { path: name, type, mode: octal(h, 100, 8) & 0o7777, linkname, data: type === "file" ? data : Buffer.alloc(0) };
  }
}

/** Entries of a tar stream, in order. Throws TarFormatError on anything that is not a tar. */
export async function* readTar(src: Readable | AsyncIterable<Buffer>): AsyncGenerator<TarEntry> {
  const parser = new TarParser();
  for await (const chunk of src as AsyncIterable<Buffer>) yield* parser.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  parser.end();
}

/** Entries of a tar held in memory. */
export function parseTar(buf: Buffer): TarEntry[] {
  const parser = new TarParser();
  const entries = parser.push(buf);
  parser.end();
  return entries;
}

export interface TarWriteEntry {
  path: string;
  type: "file" | "symlink";
  mode: number;
  data?: Buffer;
  linkname?: string;
}

function header(name: string, prefix: string, e: { type: string; mode: number; size: number; linkname: string }): Buffer {
  const h = Buffer.alloc(BLOCK);
  h.write(name, 0, 100, "utf8");
  h.write(e.mode.toString(8).padStart(7, "0") + "\0", 100, "latin1");
  h.write("0000000\0", 108, "latin1");
  h.write("0000000\0", 116, "latin1");
  h.write(e.size.toString(8).padStart(11, "0") + "\0", 124, "latin1");
  h.write("00000000000\0", 136, "latin1");
  h.write("        ", 148, "latin1");
  h.write(e.type, 156, "latin1");
  h.write(e.linkname, 157, 100, "utf8");
  h.write("ustar\0" + "00", 257, "latin1");
  h.write(prefix, 345, 155, "utf8");
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += h[i]!;
  h.write(sum.toString(8).padStart(6, "0") + "\0 ", 148, "latin1");
  return h;
}

const pad = (n: number) => Buffer.alloc((BLOCK - (n % BLOCK)) % BLOCK);

function paxRecord(key: string, value: string): Buffer {
  const body = ` ${key}=${value}\n`;
  let len = Buffer.byteLength(body) + 1;
  while (String(len).length + Buffer.byteLength(body) !== len) len = String(len).length + Buffer.byteLength(body);
  return Buffer.from(`${len}${body}`);
}

/** Split a long path into ustar prefix/name, or undefined when it needs a pax header. */
function splitPath(p: string): [string, string] | undefined {
  if (Buffer.byteLength(p) <= 100) return ["", p];
  for (let i = p.indexOf("/"); i !== -1; i = p.indexOf("/", i + 1)) {
    const prefix = p.slice(0, i);
    const name = p.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(name) <= 100 && name) return [prefix, name];
  }
  return undefined;
}

/** A deterministic tar: fixed mtime, owner 0, the entries in the order given. */
export function writeTar(entries: TarWriteEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const data = e.type === "file" ? (e.data ?? Buffer.alloc(0)) : Buffer.alloc(0);
    const linkname = e.linkname ?? "";
    let split = splitPath(e.path);
    const longLink = Buffer.byteLength(linkname) > 100;
    if (!split || longLink) {
      const recs = Buffer.concat([...(split ? [] : [paxRecord("path", e.path)]), ...(longLink ? [paxRecord("linkpath", linkname)] : [])]);
      parts.push(header("pax", "", { type: "x", mode: 0o644, size: recs.length, linkname: "" }), recs, pad(recs.length));
      split ??= ["", e.path.slice(-100)];
    }
    parts.push(header(split[1], split[0], { type: e.type === "file" ? "0" : "2", mode: e.mode, size: data.length, linkname: longLink ? "" : linkname }));
    if (data.length) parts.push(data, pad(data.length));
  }
  parts.push(Buffer.alloc(BLOCK * 2));
  return Buffer.concat(parts);
}
