import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { tmpDir } from "../../test/helpers/tmp";
import { writeTar } from "../core/tar";
import { collectTar, readUntrusted, UntrustedOutputError } from "./untrusted";

const limits = { maxBytes: 1024 * 1024, maxFiles: 100 };

/** A one-entry tar whose header type flag is `flag` (writeTar makes files and links only). */
function withFlag(name: string, flag: string): Buffer {
  const tar = writeTar([{ path: name, type: "file", mode: 0o644, data: Buffer.alloc(0) }]);
  tar.write(flag, 156, "latin1");
  tar.write("        ", 148, "latin1");
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += tar[i]!;
  tar.write(sum.toString(8).padStart(6, "0") + "\0 ", 148, "latin1");
  return tar;
}

const collect = (tar: Buffer, lim = limits) => {
  const dest = path.join(tmpDir("kbs-collect-"), "out");
  return { dest, done: collectTar(Readable.from([tar]), dest, lim) };
};

describe("collectTar: a sandbox's outputs, taken strictly", () => {
  it("writes regular files and dirs, byte for byte, in chunks of any size", async () => {
    const big = Buffer.alloc(300_000, 7);
    const tar = writeTar([
      { path: "artifacts/a.bin", type: "file", mode: 0o644, data: big },
      { path: "step", type: "file", mode: 0o755, data: Buffer.from("done\n") },
    ]);
    const dest = path.join(tmpDir("kbs-collect-"), "out");
    const chunks = Array.from({ length: Math.ceil(tar.length / 333) }, (_, i) => tar.subarray(i * 333, (i + 1) * 333));
    await expect(collectTar(Readable.from(chunks), dest, limits)).resolves.toEqual({ files: 2, bytes: big.length + 5 });
    expect(fs.readFileSync(path.join(dest, "artifacts/a.bin")).equals(big)).toBe(true);
    expect(fs.statSync(path.join(dest, "step")).mode & 0o777).toBe(0o755);
  });

  it("takes what GNU tar writes of a directory", async () => {
    const src = tmpDir("kbs-collect-src-");
    fs.mkdirSync(path.join(src, "artifacts"));
    fs.writeFileSync(path.join(src, "artifacts/x"), "x");
    const tar = execFileSync("tar", ["--format=ustar", "-cf", "-", "-C", src, "."]);
    const { dest, done } = collect(tar);
    await expect(done).resolves.toEqual({ files: 1, bytes: 1 });
    expect(fs.readFileSync(path.join(dest, "artifacts/x"), "utf8")).toBe("x");
  });

  it.each([
    ["a symbolic link", writeTar([{ path: "loot", type: "symlink", mode: 0o777, linkname: "/etc/shadow" }]), /it is a symbolic link/],
    ["a hard link", withFlag("loot", "1"), /it is a hard link/],
    ["a FIFO", withFlag("loot", "6"), /it is a FIFO/],
    ["a character device", withFlag("loot", "3"), /it is a device/],
    ["a climbing name", writeTar([{ path: "../../etc/x", type: "file", mode: 0o644, data: Buffer.from("x") }]), /'\.\.'/],
    ["an absolute name", writeTar([{ path: "/etc/x", type: "file", mode: 0o644, data: Buffer.from("x") }]), /absolute/],
    ["a bidi override in a name", writeTar([{ path: "fw\u202Enib.exe", type: "file", mode: 0o644, data: Buffer.from("x") }]), /control characters/],
    ["output over the byte cap", writeTar([{ path: "big", type: "file", mode: 0o644, data: Buffer.alloc(2 * 1024 * 1024) }]), /larger than the 1 MB allowed/],
    ["more files than allowed", writeTar(Array.from({ length: 101 }, (_, i) => ({ path: `f${i}`, type: "file" as const, mode: 0o644, data: Buffer.from("x") }))), /more than 100 output files/],
    ["something that is not a tar", Buffer.alloc(1024, 65), /not a tar archive/],
    ["an archive cut short", writeTar([{ path: "a", type: "file", mode: 0o644, data: Buffer.alloc(5000, 1) }]).subarray(0, 2048), /truncated/],
  ])("refuses %s", async (_what, tar, message) => {
    await expect(collect(tar).done).rejects.toThrow(message);
  });

  it("refuses a file claiming a size past the cap before reading its data", async () => {
    const tar = writeTar([{ path: "big", type: "file", mode: 0o644, data: Buffer.alloc(10) }]);
    tar.write((2 ** 33).toString(8).padStart(11, "0") + "\0", 124, "latin1");
    tar.write("        ", 148, "latin1");
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += tar[i]!;
    tar.write(sum.toString(8).padStart(6, "0") + "\0 ", 148, "latin1");
    await expect(collect(tar.subarray(0, 1024)).done).rejects.toThrow(/larger than/);
  });
});

describe("readUntrusted: one file a live sandbox wrote", () => {
  const dir = tmpDir("kbs-untrusted-");
  fs.writeFileSync(path.join(dir, "config"), "CONFIG_A=y\n");
  fs.symlinkSync("/etc/passwd", path.join(dir, "link"));
  execFileSync("mkfifo", [path.join(dir, "fifo")]);
  fs.mkdirSync(path.join(dir, "sub"));
  fs.writeFileSync(path.join(dir, "big"), Buffer.alloc(2048));

  it("reads a regular file, and says there is none when there is none", async () => {
    expect((await readUntrusted(dir, "config"))?.toString()).toBe("CONFIG_A=y\n");
    expect(await readUntrusted(dir, "missing")).toBeUndefined();
  });

  it.each([
    ["link", /symbolic link/],
    ["fifo", /not a regular file/],
    ["sub", /not a regular file/],
  ])("refuses %s without following or blocking", async (name, message) => {
    const t0 = Date.now();
    await expect(readUntrusted(dir, name)).rejects.toThrow(message);
    await expect(readUntrusted(dir, name)).rejects.toBeInstanceOf(UntrustedOutputError);
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it("refuses a file over the cap", async () => {
    await expect(readUntrusted(dir, "big", 1024)).rejects.toThrow(/over the/);
  });
});
