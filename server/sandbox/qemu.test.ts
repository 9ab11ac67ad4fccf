import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { tmpDir } from "../../test/helpers/tmp";
import { loadSettings } from "../core/settings";
import { createBackend } from "./service";
import { securityChecks } from "../../test/helpers/security-checks";
import { outputUntilExit, resizeProbe, until } from "../../test/helpers/sandbox";

/**
 * The qemu backend on real microVMs (TCG here: each test boots a VM, 5-15 s). Runs in
 * the default test run; skipped, with the reason, only where qemu, busybox-static or the
 * cloud kernel is missing.
 */
const dataDir = tmpDir("kbs-qemu-");
const backend = await createBackend("qemu", { dataDir, sandboxes: loadSettings().sandboxes });
const avail = await backend.available();
const VM_TEST_MS = 120_000;

describe.skipIf(!avail.ok)(`qemu backend${avail.ok ? "" : ` (skipped: ${avail.reason})`}`, () => {
  it("runs a command with stdin, read-only binds, separate stderr and the job's exit code", async () => {
    const src = path.join(dataDir, "src");
    fs.mkdirSync(src);
    fs.writeFileSync(path.join(src, "data.txt"), "from the host\n");
    const r = await backend.run({
      image: "shell",
      argv: ["/bin/sh", "-c", 'cat /kbs/in/data.txt; cat; echo "$HOME $GREETING"; id -un; echo oops >&2; exit 7'],
      stdin: "from stdin\n",
      binds: [{ host: src, guest: "/kbs/in" }],
      env: { GREETING: "it's me" },
      timeoutMs: 100_000,
    });
    expect(r.stdout.toString()).toBe("from the host\nfrom stdin\n/work/.home it's me\nkbs\n");
    expect(r.stderr.toString()).toBe("oops\n");
    expect(r.code).toBe(7);
    await expect(backend.run({ image: "shell", argv: ["/bin/true"], binds: [{ host: src, guest: "/kbs/out", writable: true }] })).rejects.toThrow(/writable bind "\/kbs\/out" needs KBS_SANDBOX=bwrap/);
  }, VM_TEST_MS);

  it("runs a warm session: files in through /kbs/in, the pty size, keystrokes, /kbs/out back at exit", async () => {
    const sb = await backend.startWarm({ image: "shell" });
    try {
      const tree = path.join(dataDir, "tree");
      fs.mkdirSync(tree);
      fs.writeFileSync(path.join(tree, "hello.txt"), "hello tree\n");
      execFileSync("tar", ["-cf", path.join(sb.inDir, "t.tar"), "-C", tree, "."]);
      fs.writeFileSync(path.join(sb.inDir, "config"), "CONFIG_A=y\n");
      const done = outputUntilExit(sb);
      let seen = "";
      sb.onData((d) => (seen += d.toString()));
      sb.launch({
        extract: ["/kbs/in/t.tar"],
        copy: [{ from: "/kbs/in/config", to: "/kbs/out/.config" }],
        cwd: "/work",
        argv: ["/bin/sh", "-c", "stty size; cat hello.txt; echo ready-for-input; read x; echo \"got $x\"; echo CONFIG_B=y >> /kbs/out/.config"],
        env: {},
        cols: 100,
        rows: 30,
      });
      while (!seen.includes("ready-for-input")) await new Promise((r) => setTimeout(r, 50));
      sb.write("typed\r");
      const { out, code } = await done;
      expect(code).toBe(0);
      expect(out).toMatch(/30 100\r\n/);
      expect(out).toContain("hello tree");
      expect(out).toContain("got typed");
      expect(fs.readFileSync(path.join(sb.outDir, ".config"), "utf8")).toBe("CONFIG_A=y\nCONFIG_B=y\n");
    } finally {
      await sb.kill();
    }
  }, VM_TEST_MS);

  it("hands a warm guest a /kbs/in far bigger than the serial port moved in minutes, through its read-only drive", async () => {
    const sb = await backend.startWarm({ image: "shell" });
    try {
      // 24 MB that gzip cannot shrink: the serial port took ~30 s for Klipper's 240 KB gzip'd.
      const big = crypto.randomBytes(24 * 2 ** 20);
      const tree = path.join(dataDir, "big-tree");
      fs.mkdirSync(tree);
      fs.writeFileSync(path.join(tree, "blob.bin"), big);
      execFileSync("tar", ["-cf", path.join(sb.inDir, "t.tar"), "-C", tree, "."]);
      const done = outputUntilExit(sb);
      sb.launch({
        extract: ["/kbs/in/t.tar"],
        cwd: "/work",
        // The job's user can read what it was handed, not the drive itself.
        argv: ["/bin/sh", "-c", "sha256sum blob.bin; head -c 1 /dev/nvme0n1 >/dev/null 2>&1 || echo drive-not-readable"],
        env: {},
        cols: 80,
        rows: 24,
      });
      const { out, code } = await done;
      expect(code).toBe(0);
      expect(out).toContain(`${crypto.createHash("sha256").update(big).digest("hex")}  blob.bin`);
      expect(out).toContain("drive-not-readable");
    } finally {
      await sb.kill();
    }
  }, VM_TEST_MS);

  it("refuses a /kbs/in bigger than the guest takes in, with a message saying so", async () => {
    const sb = await backend.startWarm({ image: "shell", workSizeBytes: 4 * 2 ** 20 });
    try {
      fs.writeFileSync(path.join(sb.inDir, "big.bin"), Buffer.alloc(6 * 2 ** 20, 1));
      const done = outputUntilExit(sb);
      sb.launch({ extract: [], cwd: "/work", argv: ["/bin/true"], env: {}, cols: 80, rows: 24 });
      const { out } = await done;
      expect(out).toContain("kbs sandbox: cannot start the job: this session's files (6.0 MiB) are more than a qemu sandbox takes in (4.0 MiB: its work size, at most 256 MiB)");
    } finally {
      await sb.kill();
    }
  }, VM_TEST_MS);

  it("collects a one-shot run's /kbs/out through its out-drive, strictly", async () => {
    const into = path.join(dataDir, "collected");
    const r = await backend.run({
      image: "shell",
      argv: ["/bin/sh", "-c", "mkdir -p /kbs/out/tree/sub && echo built > /kbs/out/tree/sub/file && head -c 300000 /dev/urandom > /kbs/out/blob && sha256sum /kbs/out/blob | cut -d' ' -f1"],
      collect: { into, maxBytes: 2 ** 20 },
      timeoutMs: 100_000,
    });
    expect(r.code).toBe(0);
    expect(r.collected).toEqual({ files: 2, bytes: 300_006 });
    expect(fs.readFileSync(path.join(into, "tree/sub/file"), "utf8")).toBe("built\n");
    expect(crypto.createHash("sha256").update(fs.readFileSync(path.join(into, "blob"))).digest("hex")).toBe(r.stdout.toString().trim());
    // Over the limit: refused, and said so.
    const over = await backend.run({ image: "shell", argv: ["/bin/sh", "-c", "head -c 200000 /dev/zero > /kbs/out/big"], collect: { into: path.join(dataDir, "over"), maxBytes: 100_000 }, timeoutMs: 100_000 });
    expect(over.collected).toEqual({ error: expect.stringContaining("outputs are larger than") });
  }, VM_TEST_MS);

  it("takes back only regular files from a guest's /kbs/out: a link to a host file or a FIFO there never reaches the host", async () => {
    const sb = await backend.startWarm({ image: "shell" });
    try {
      const done = outputUntilExit(sb);
      sb.launch({
        extract: [],
        cwd: "/work",
        argv: ["/bin/sh", "-c", "ln -s /etc/shadow /kbs/out/.config; mkfifo /kbs/out/fifo; echo plain > /kbs/out/plain"],
        env: {},
        cols: 80,
        rows: 24,
      });
      expect((await done).code).toBe(0);
      // The whole tar is refused (it holds a link): nothing of it lands beside the session's files.
      expect(fs.readdirSync(sb.outDir).filter((f) => !f.startsWith("."))).toEqual([]);
      expect(fs.lstatSync(path.join(sb.outDir, ".config"), { throwIfNoEntry: false })).toBeUndefined();
    } finally {
      await sb.kill();
    }
  }, VM_TEST_MS);

  it("runs menuconfig in the warm guest's Python and brings the saved config back", async () => {
    const sb = await backend.startWarm({ image: "menuconfig" });
    try {
      const tree = path.join(dataDir, "kconfig-tree");
      fs.mkdirSync(tree);
      fs.writeFileSync(path.join(tree, "Kconfig"), 'mainmenu "Guest Demo"\nconfig FOO\n\tbool "Enable foo"\n\tdefault y\n');
      execFileSync("tar", ["-cf", path.join(sb.inDir, "tree.tar"), "-C", tree, "."]);
      let seen = "";
      sb.onData((d) => (seen += d.toString()));
      const done = outputUntilExit(sb);
      sb.launch({ extract: ["/kbs/in/tree.tar"], cwd: "/work", argv: ["python3", "-m", "menuconfig", "Kconfig"], env: { KCONFIG_CONFIG: "/kbs/out/.config" }, cols: 100, rows: 30 });
      await until(() => seen.includes("Enable foo"), "menuconfig's first screen", 90_000);
      sb.write("Q");
      await until(() => seen.includes("(Y)es"), "the save question", 60_000);
      sb.write("y");
      const { code } = await done;
      expect(code).toBe(0);
      expect(fs.readFileSync(path.join(sb.outDir, ".config"), "utf8")).toContain("CONFIG_FOO=y");
    } finally {
      await sb.kill();
    }
  }, 180_000);

  it("forwards a resize to the guest's terminal over the control port, with SIGWINCH", async () => {
    const sb = await backend.startWarm({ image: "shell" });
    try {
      let seen = "";
      sb.onData((d) => (seen += d.toString()));
      const done = outputUntilExit(sb);
      sb.launch({ extract: [], cwd: "/work", argv: resizeProbe, env: {}, cols: 80, rows: 24 });
      await until(() => seen.includes("waiting-for-resize"), "the job to start", 60_000);
      sb.resize(120, 40);
      const { out } = await done;
      expect(out).toContain("got-winch");
      expect(out).toContain("resized");
    } finally {
      await sb.kill();
    }
  }, VM_TEST_MS);
});

if (avail.ok) securityChecks("qemu", { backend: () => backend, image: "shell", dataDir, ownUid: false, bootMs: 30_000, testTimeoutMs: VM_TEST_MS });
