import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { tmpDir } from "../../test/helpers/tmp";
import { extractEntries, extractTarFile } from "./extract";
import { parseTar, writeTar, type TarEntry } from "../core/tar";

const file = (p: string, text = "x"): TarEntry => ({ path: p, type: "file", mode: 0o644, linkname: "", data: Buffer.from(text) });
const link = (p: string, target: string, type: "symlink" | "hardlink" = "symlink"): TarEntry => ({ path: p, type, mode: 0o777, linkname: target, data: Buffer.alloc(0) });

describe("tar writer and reader", () => {
  it("round-trips long paths, exec bits and symlinks, and GNU tar reads what it writes", () => {
    const long = `${"d".repeat(120)}/${"f".repeat(90)}`;
    const longer = `${"x".repeat(200)}/${"y".repeat(150)}`;
    const buf = writeTar([
      { path: "src/Kconfig", type: "file", mode: 0o644, data: Buffer.from("config A\n") },
      { path: "run.sh", type: "file", mode: 0o755, data: Buffer.from("#!/bin/sh\n") },
      { path: long, type: "file", mode: 0o644, data: Buffer.alloc(1000, 1) },
      { path: longer, type: "file", mode: 0o644, data: Buffer.from("deep") },
      { path: "lnk", type: "symlink", mode: 0o777, linkname: "src/Kconfig" },
    ]);
    const back = parseTar(buf);
    expect(back.map((e) => [e.path, e.type, e.mode & 0o111 ? "x" : "-"])).toEqual([
      ["src/Kconfig", "file", "-"],
      ["run.sh", "file", "x"],
      [long, "file", "-"],
      [longer, "file", "-"],
      ["lnk", "symlink", "x"],
    ]);
    expect(back[3]!.data.toString()).toBe("deep");
    const dir = tmpDir();
    fs.writeFileSync(path.join(dir, "b.tar"), buf);
    const listed = execFileSync("tar", ["-tf", path.join(dir, "b.tar")], { encoding: "utf8" }).trim().split("\n");
    expect(listed).toEqual(["src/Kconfig", "run.sh", long, longer, "lnk"]);
    expect(writeTar([{ path: "a", type: "file", mode: 0o644, data: Buffer.from("1") }])).toEqual(writeTar([{ path: "a", type: "file", mode: 0o644, data: Buffer.from("1") }]));
  });

  it("reads tars made by GNU tar (long names, hard links) and refuses what is not a tar", () => {
    const dir = tmpDir();
    const src = path.join(dir, "src");
    fs.mkdirSync(path.join(src, "a".repeat(110)), { recursive: true });
    fs.writeFileSync(path.join(src, "a".repeat(110), "Kconfig"), "config X\n");
    fs.linkSync(path.join(src, "a".repeat(110), "Kconfig"), path.join(src, "hard"));
    execFileSync("tar", ["-cf", path.join(dir, "g.tar"), "-C", src, "."]);
    const entries = parseTar(fs.readFileSync(path.join(dir, "g.tar")));
    expect(entries.find((e) => e.path.endsWith("/Kconfig"))?.data.toString()).toBe("config X\n");
    expect(entries.some((e) => e.type === "hardlink")).toBe(true);
    expect(() => parseTar(Buffer.from("this is not a tar archive at all".repeat(40)))).toThrow(/not a tar archive/);
    expect(() => parseTar(fs.readFileSync(path.join(dir, "g.tar")).subarray(0, 1024))).toThrow(/truncated/);
  });
});

describe("safe extraction", () => {
  const hostile: Array<[string, TarEntry[], RegExp]> = [
    ["an absolute path", [file("/etc/passwd")], /absolute path/],
    ["a path with ..", [file("a/../../escape")], /'\.\.'/],
    ["a symlink out of the tree", [link("up", "../../outside")], /points outside/],
    ["an absolute symlink", [link("abs", "/etc")], /absolute path/],
    ["a file written through a symlink", [link("d", "sub"), file("d/x")], /is a link or a file/],
    ["a hard link to something outside", [link("h", "../x", "hardlink")], /points outside|'\.\.'/],
    ["a hard link to nothing in the archive", [link("h", "etc/shadow", "hardlink")], /not a file earlier/],
    ["a device", [{ path: "dev", type: "device", mode: 0o600, linkname: "", data: Buffer.alloc(0) }], /device entries are not allowed/],
    ["a fifo", [{ path: "p", type: "fifo", mode: 0o600, linkname: "", data: Buffer.alloc(0) }], /fifo entries are not allowed/],
  ];
  for (const [what, entries, why] of hostile) {
    it(`refuses ${what} and writes nothing`, () => {
      const dest = path.join(tmpDir(), "dest");
      expect(() => extractEntries([file("ok.txt"), ...entries], dest)).toThrow(why);
      expect(fs.existsSync(path.join(dest, "ok.txt"))).toBe(false);
    });
  }

  it("refuses a hand-made hostile tar file from disk", () => {
    const dir = tmpDir();
    const tar = path.join(dir, "evil.tar");
    // GNU tar keeps ../ with -P; the archive then names a path outside the destination.
    fs.mkdirSync(path.join(dir, "inner"));
    fs.writeFileSync(path.join(dir, "payload"), "boom");
    execFileSync("tar", ["-P", "-cf", tar, "-C", path.join(dir, "inner"), "../payload"]);
    expect(() => extractTarFile(tar, path.join(dir, "out"))).toThrow(/'\.\.'/);
    expect(fs.existsSync(path.join(dir, "out", "payload"))).toBe(false);
  });

  it("extracts files, executables, in-tree links and hard links", () => {
    const dest = path.join(tmpDir(), "dest");
    extractEntries([file("src/Kconfig", "k"), { ...file("x.sh", "#!"), mode: 0o755 }, link("src/K2", "Kconfig"), link("copy", "src/Kconfig", "hardlink")], dest);
    expect(fs.readFileSync(path.join(dest, "src/K2"), "utf8")).toBe("k");
    expect(fs.readFileSync(path.join(dest, "copy"), "utf8")).toBe("k");
    expect(fs.statSync(path.join(dest, "x.sh")).mode & 0o111).not.toBe(0);
  });
});
