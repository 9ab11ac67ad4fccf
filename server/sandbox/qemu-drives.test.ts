import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { tmpDir } from "../../test/helpers/tmp";
import { InDrive, OutDrive, tarSize } from "./qemu-drives";

/** The host side of the qemu guests' drives, on real files: what a guest says is never taken on trust. */
describe("qemu transfer drives", () => {
  const dir = tmpDir("kbs-qemu-drives-");
  let n = 0;
  const fresh = () => path.join(dir, `case-${++n}`);

  /** An out-drive holding what a guest wrote: `data` at its start. */
  function written(data: Buffer, maxBytes = 2 ** 20): { drive: OutDrive; into: string } {
    const base = fresh();
    fs.mkdirSync(base);
    const into = path.join(base, "into");
    const drive = new OutDrive(path.join(base, "out.img"), { into, maxBytes });
    const fd = fs.openSync(path.join(base, "out.img"), "r+");
    fs.writeSync(fd, data, 0, data.length, 0);
    fs.closeSync(fd);
    return { drive, into };
  }

  function tarOf(files: Record<string, string>): Buffer {
    const src = fresh();
    fs.mkdirSync(src);
    for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(src, name), text);
    return execFileSync("tar", ["--format=ustar", "-cf", "-", "-C", src, "."]);
  }

  it("takes the outputs the guest wrote, at the length it said", async () => {
    const tar = tarOf({ ".config": "CONFIG_A=y\n" });
    const { drive, into } = written(tar);
    expect(await drive.collect(String(tar.length))).toEqual({ files: 1, bytes: 11 });
    expect(fs.readFileSync(path.join(into, ".config"), "utf8")).toBe("CONFIG_A=y\n");
  });

  it("refuses a length the guest cannot mean: none, not a number, past the drive's end, or one that cuts the archive", async () => {
    const tar = tarOf({ a: "x".repeat(5000) });
    const { drive } = written(tar);
    expect(await drive.collect(undefined)).toEqual({ error: expect.stringContaining("sent back no outputs") });
    expect(await drive.collect("12abc")).toEqual({ error: expect.stringContaining('claimed a length of "12abc"') });
    expect(await drive.collect("-1")).toEqual({ error: expect.stringContaining("not a tar archive") });
    expect(await drive.collect(String(2 ** 50))).toEqual({ error: expect.stringMatching(/claimed 1073741824\.0 MiB of outputs, more than the \d+\.\d MiB it could write/) });
    expect(await drive.collect("2048")).toEqual({ error: expect.stringContaining("truncated") });
  });

  it("refuses what is not a tar, and outputs over the limit", async () => {
    expect(await written(Buffer.alloc(4096, 7)).drive.collect("4096")).toEqual({ error: expect.stringContaining("not a tar archive") });
    const tar = tarOf({ big: "y".repeat(300_000) });
    expect(await written(tar, 100_000).drive.collect(String(tar.length))).toEqual({ error: expect.stringContaining("larger than") });
  });

  it("an in-drive is a sparse file of whole MiB that takes at most its capacity", () => {
    const file = path.join(dir, "in.img");
    const drive = new InDrive(file, 3 * 2 ** 20 + 1);
    expect(fs.statSync(file).size).toBe(4 * 2 ** 20);
    expect(fs.statSync(file).blocks).toBe(0);
    drive.write(Buffer.from("tar"));
    expect(fs.readFileSync(file).subarray(0, 4).toString()).toBe("tar\0");
    expect(() => drive.write(Buffer.alloc(5 * 2 ** 20))).toThrow(/more than the drive's 4\.0 MiB/);
  });

  it("counts a dir's tar size from above", () => {
    const src = fresh();
    fs.mkdirSync(path.join(src, "sub"), { recursive: true });
    fs.writeFileSync(path.join(src, "sub/f"), "z".repeat(1000));
    fs.writeFileSync(path.join(src, "g"), "");
    expect(tarSize(src)).toBeGreaterThanOrEqual(execFileSync("tar", ["-cf", "-", "-C", src, "."]).length);
  });
});
