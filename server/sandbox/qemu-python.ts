import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { run } from "../core/proc";
import { cpio, parentDirs, type CpioEntry } from "./cpio";
import { IMAGES_DIR, STUB_DIR } from "./images";
import { GUEST_STUB } from "../core/guest-paths";

const PYTHON = "/usr/bin/python3";
const TERMINFO = ["x/xterm-256color", "x/xterm", "l/linux", "v/vt100", "d/dumb"];

function walk(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)]));
}

/** Shared libraries a binary loads, as ldd resolves them on the host. */
async function libsOf(file: string): Promise<string[]> {
  const r = await run("ldd", [file], { timeoutMs: 30_000 });
  return r.stdout
    .toString()
    .split("\n")
    .map((l) => /(?:=>\s*)?(\/\S+)\s+\(0x/.exec(l)?.[1])
    .filter((p): p is string => !!p);
}

/** Write a cached layer, removing older layers of the same kind (the host's files changed). */
export function writeCache(file: string, data: Buffer, prefix: string): void {
  const dir = path.dirname(file);
  for (const n of fs.readdirSync(dir)) if (n.startsWith(prefix) && n.endsWith(".cpio") && path.join(dir, n) !== file) fs.rmSync(path.join(dir, n), { force: true });
  fs.writeFileSync(`${file}.tmp`, data);
  fs.renameSync(`${file}.tmp`, file);
}

/**
 * The system Python for the qemu guest, as a cpio layer: the interpreter, the modules the
 * warm stub, Kconfiglib and menuconfig import (listed by sandbox-images/qemu-guest/
 * python_files.py on the host), their shared libraries, terminfo, and the warm stub at
 * /kbs/stub. Files keep their host paths. Cached in `dir` by content.
 */
export async function pythonLayer(dir: string): Promise<Buffer> {
  const list = await run(PYTHON, ["-s", path.join(IMAGES_DIR, "qemu-guest", "python_files.py"), STUB_DIR], { timeoutMs: 60_000 });
  if (list.code !== 0) throw new Error(`cannot list the guest's Python files: ${list.stderr.toString().trim()}`);
  const modules = JSON.parse(list.stdout.toString()) as string[];
  const binaries = [fs.realpathSync(PYTHON), ...modules.filter((f) => f.endsWith(".so"))];
  const libs = new Set<string>();
  for (const b of binaries) for (const l of await libsOf(b)) libs.add(l);
  const files = new Map<string, string>(); // guest path -> host file
  files.set(PYTHON, fs.realpathSync(PYTHON));
  for (const f of [...modules, ...libs]) files.set(f, f);
  for (const t of TERMINFO) if (fs.existsSync(`/usr/lib/terminfo/${t}`)) files.set(`/lib/terminfo/${t}`, `/usr/lib/terminfo/${t}`);
  files.set(`${GUEST_STUB}/warm_stub.py`, path.join(STUB_DIR, "warm_stub.py"));
  // setlocale(LC_ALL, "") with LANG=C.UTF-8 (menuconfig calls it) needs the locale files.
  for (const f of walk("/usr/lib/locale/C.utf8")) files.set(f, f);

  const hash = crypto.createHash("sha256");
  const sorted = [...files.entries()].sort(([a], [b]) => a.localeCompare(b));
  for (const [guest, host] of sorted) hash.update(`${guest}\0`).update(fs.readFileSync(host));
  const cached = path.join(dir, `python-${hash.digest("hex").slice(0, 16)}.cpio`);
  if (fs.existsSync(cached)) return fs.readFileSync(cached);

  const dirs = new Map<string, CpioEntry>();
  for (const [guest] of sorted) for (const d of parentDirs(guest)) dirs.set(d.name, d);
  const entries: CpioEntry[] = [
    ...[...dirs.values()].sort((a, b) => a.name.length - b.name.length),
    ...sorted.map(([guest, host]) => ({ name: guest, mode: fs.statSync(host).mode & 0o755, type: "file" as const, data: fs.readFileSync(host) })),
    { name: "/usr/bin/python3.11", mode: 0o777, type: "symlink", data: "python3" },
  ];
  const layer = cpio(entries);
  writeCache(cached, layer, "python-");
  return layer;
}
