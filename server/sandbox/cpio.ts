import fs from "node:fs";
import path from "node:path";

/** One member of a newc cpio archive (the initramfs format); owned by root. */
export interface CpioEntry {
  name: string;
  /** Permission bits; the type comes from `type`. */
  mode: number;
  type: "file" | "dir" | "symlink";
  data?: Buffer | string;
}

const TYPE_BITS = { file: 0o100000, dir: 0o040000, symlink: 0o120000 } as const;
const pad4 = (n: number) => (4 - (n % 4)) % 4;
const hex8 = (n: number) => n.toString(16).padStart(8, "0");

/** Write a newc cpio archive (what the kernel unpacks as initramfs; archives may be concatenated). */
export function cpio(entries: CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  let ino = 1;
  const add = (name: string, mode: number, data: Buffer) => {
    const nameBuf = Buffer.from(`${name}\0`);
    const fields = [ino++, mode, 0, 0, 1, 0, data.length, 0, 0, 0, 0, nameBuf.length, 0];
    const header = Buffer.from(`070701${fields.map(hex8).join("")}`);
    parts.push(header, nameBuf, Buffer.alloc(pad4(header.length + nameBuf.length)), data, Buffer.alloc(pad4(data.length)));
  };
  for (const e of entries) {
    const data = e.data === undefined ? Buffer.alloc(0) : Buffer.from(e.data);
    add(e.name.replace(/^\/+/, ""), TYPE_BITS[e.type] | (e.mode & 0o7777), data);
  }
  add("TRAILER!!!", 0, Buffer.alloc(0));
  const out = Buffer.concat(parts);
  return Buffer.concat([out, Buffer.alloc(pad4(out.length))]);
}

/** Entries for a host tree placed at `guest` (regular files, dirs and symlinks; permissions kept, owner root). */
export function treeEntries(host: string, guest: string): CpioEntry[] {
  const out: CpioEntry[] = [];
  const walk = (h: string, g: string) => {
    const st = fs.lstatSync(h);
    if (st.isSymbolicLink()) out.push({ name: g, mode: 0o777, type: "symlink", data: fs.readlinkSync(h) });
    else if (st.isDirectory()) {
      out.push({ name: g, mode: st.mode & 0o755, type: "dir" });
      for (const n of fs.readdirSync(h).sort()) walk(path.join(h, n), `${g}/${n}`);
    } else if (st.isFile()) out.push({ name: g, mode: st.mode & 0o755, type: "file", data: fs.readFileSync(h) });
  };
  walk(host, guest);
  return out;
}

/** The parent dirs of a guest path, so an archive can place it anywhere. */
export function parentDirs(guest: string): CpioEntry[] {
  const parts = guest.split("/").filter(Boolean);
  return parts.slice(0, -1).map((_, i) => ({ name: `/${parts.slice(0, i + 1).join("/")}`, mode: 0o755, type: "dir" as const }));
}
