import fs from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import { execFileSync } from "node:child_process";
import { afterAll, describe, expect, it } from "vitest";
import { tmpDir } from "../../test/helpers/tmp";
import { loadSettings } from "../core/settings";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { createBackend, createSandboxService } from "./service";
import { pidsOfUid } from "./procs";
import { outputUntilExit, resizeProbe, until } from "../../test/helpers/sandbox";
import type { LaunchJob } from "./types";

const dataDir = tmpDir("kbs-sbx-");
const backend = await createBackend("bwrap", { dataDir, sandboxes: loadSettings().sandboxes });
const job = (over: Partial<LaunchJob>): LaunchJob => ({ extract: [], cwd: "/work", argv: ["/bin/true"], env: {}, cols: 80, rows: 24, ...over });
const live: Array<{ kill(): Promise<void> }> = [];
afterAll(async () => void (await Promise.all(live.map((s) => s.kill()))));

describe("bwrap run", () => {
  it("has the network only for a run that asks for it, and the service refuses that unless the operator allowed it", async () => {
    const server = http.createServer((_req, res) => res.end("reached\n"));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    try {
      const get = (network: boolean) => backend.run({ image: "build-kernel", argv: ["/usr/bin/wget", "-q", "-T", "5", "-t", "1", "-O", "-", url], network, timeoutMs: 30_000 });
      const withNet = await get(true);
      expect(withNet.stdout.toString(), withNet.stderr.toString()).toBe("reached\n");
      expect((await get(false)).code).not.toBe(0);
      const service = await createSandboxService({ ...loadSettings({ KBS_DATA_DIR: dataDir, KBS_POOL_SIZE: "0" }) });
      try {
        await expect(service.run({ image: "build-kernel", argv: ["/bin/true"], network: true })).rejects.toThrow(/KBS_FETCH_NETWORK=1/);
      } finally {
        await service.close();
      }
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it("runs a command with the fixed env, a tmpfs /work and its exit code", async () => {
    const r = await backend.run({
      image: "menuconfig",
      argv: ["/bin/sh", "-c", 'echo "$TERM $LANG $HOME $PATH"; pwd; df -k /work | tail -1; echo oops >&2; exit 3'],
      workSizeBytes: 8 * 2 ** 20,
      env: { EXTRA: "1" },
    });
    expect(r.code).toBe(3);
    expect(r.timedOut).toBe(false);
    const [envLine, cwd, df] = r.stdout.toString().trim().split("\n");
    expect(envLine).toBe("xterm-256color C.UTF-8 /work/.home /usr/bin:/bin");
    expect(cwd).toBe("/work");
    expect(df).toMatch(/^tmpfs\s+8192\s/);
    expect(r.stderr.toString()).toBe("oops\n");
  });

  it("streams stdin from a Readable and output through onOutput, keeping only the tail", async () => {
    const seen: Buffer[] = [];
    const input = Readable.from([Buffer.from("a".repeat(100_000)), Buffer.from("END\n")]);
    const r = await backend.run({
      image: "menuconfig",
      argv: ["/bin/sh", "-c", "wc -c; seq 1 20000"],
      stdin: input,
      maxOutputBytes: 1000,
      onOutput: (d) => seen.push(d),
    });
    expect(r.code).toBe(0);
    const all = Buffer.concat(seen).toString();
    expect(all.startsWith("100004\n1\n2\n")).toBe(true);
    expect(r.stdout.length).toBe(1000);
    expect(r.stdout.toString().endsWith("19999\n20000\n")).toBe(true);
  });

  it("hands in binds: read-only ones cannot be written, writable ones can", async () => {
    const inDir = path.join(dataDir, "bind-in");
    const outDir = path.join(dataDir, "bind-out");
    fs.mkdirSync(inDir);
    fs.mkdirSync(outDir);
    fs.writeFileSync(path.join(inDir, "hello"), "hi\n");
    const r = await backend.run({
      image: "menuconfig",
      binds: [{ host: inDir, guest: "/kbs/in" }, { host: outDir, guest: "/kbs/out", writable: true }],
      argv: ["/bin/sh", "-c", "cat /kbs/in/hello; echo x > /kbs/in/nope || echo ro; cp /kbs/in/hello /kbs/out/copied"],
    });
    expect(r.stdout.toString()).toBe("hi\nro\n");
    expect(fs.readFileSync(path.join(outDir, "copied"), "utf8")).toBe("hi\n");
  });

  it("kills the whole tree at the wall-clock timeout and leaves no process behind", async () => {
    const r = await backend.run({
      image: "menuconfig",
      argv: ["/bin/sh", "-c", "(setsid sleep 1000 &); sleep 1000 & echo started; id -u; wait"],
      timeoutMs: 1500,
    });
    expect(r.timedOut).toBe(true);
    expect(r.stdout.toString()).toMatch(/^started\n\d+\n$/);
    const uid = Number(r.stdout.toString().split("\n")[1]);
    if (process.getuid?.() === 0) expect(pidsOfUid(uid)).toEqual([]);
    expect(execFileSync("ps", ["-eo", "args"]).toString()).not.toMatch(/^sleep 1000$/m);
  });

  it("rejects binds over the sandbox's system and unknown images, with the reason", async () => {
    await expect(backend.run({ image: "menuconfig", binds: [{ host: dataDir, guest: "/usr/x" }], argv: ["/bin/true"] })).rejects.toThrow(/replace part of the sandbox/);
    await expect(backend.run({ image: "nope", argv: ["/bin/true"] })).rejects.toThrow(/unknown sandbox image "nope"; known images: .*menuconfig/);
  });
});

describe("bwrap warm sandbox", () => {
  it("runs a python3 script inside the warm interpreter at the pty size", async () => {
    const sb = await backend.startWarm({ image: "menuconfig" });
    live.push(sb);
    fs.writeFileSync(path.join(sb.inDir, "config"), "CONFIG_X=y\n");
    const tarSrc = path.join(dataDir, "tree");
    fs.mkdirSync(path.join(tarSrc, "scripts"), { recursive: true });
    fs.writeFileSync(
      path.join(tarSrc, "scripts", "show.py"),
      [
        "import os, sys, shutil",
        "print('argv', sys.argv[1:])",
        "print('size', shutil.get_terminal_size())",
        "print('kconfiglib' in sys.modules, 'curses' in sys.modules)",
        "print('cwd', os.getcwd(), os.environ['KCONFIG_CONFIG'])",
        "print(open('/kbs/out/.config').read().strip())",
        "print('héllo wörld')",
      ].join("\n"),
    );
    execFileSync("tar", ["-cf", path.join(sb.inDir, "tree.tar"), "-C", tarSrc, "."]);
    const done = outputUntilExit(sb);
    sb.launch(job({
      extract: ["/kbs/in/tree.tar"],
      copy: [{ from: "/kbs/in/config", to: "/kbs/out/.config" }],
      argv: ["python3", "scripts/show.py", "a", "b"],
      env: { KCONFIG_CONFIG: "/kbs/out/.config" },
      cols: 123,
      rows: 45,
    }));
    const { out, code } = await done;
    expect(code).toBe(0);
    expect(out).toContain("argv ['a', 'b']");
    expect(out).toContain("size os.terminal_size(columns=123, lines=45)");
    expect(out).toContain("True True");
    expect(out).toContain("cwd /work /kbs/out/.config");
    expect(out).toContain("CONFIG_X=y");
    expect(out).toContain("héllo wörld");
    expect(fs.readFileSync(path.join(sb.outDir, ".config"), "utf8")).toBe("CONFIG_X=y\n");
    await sb.kill();
    expect(fs.existsSync(sb.inDir)).toBe(false);
  });

  it("prefers a tree's own kconfiglib over the preloaded one", async () => {
    const sb = await backend.startWarm({ image: "menuconfig" });
    live.push(sb);
    const src = path.join(dataDir, "own");
    fs.mkdirSync(path.join(src, "lib"), { recursive: true });
    fs.copyFileSync("/usr/lib/python3/dist-packages/kconfiglib.py", path.join(src, "lib", "kconfiglib.py"));
    fs.writeFileSync(path.join(src, "lib", "which.py"), "import kconfiglib; print('from', kconfiglib.__file__)\n");
    execFileSync("tar", ["-cf", path.join(sb.inDir, "t.tar"), "-C", src, "."]);
    const done = outputUntilExit(sb);
    sb.launch(job({ extract: ["/kbs/in/t.tar"], argv: ["python3", "lib/which.py"] }));
    expect((await done).out).toContain("from /work/lib/kconfiglib.py");
  });

  it("refuses archives that climb out of /work, and says why", async () => {
    const sb = await backend.startWarm({ image: "menuconfig" });
    live.push(sb);
    const src = path.join(dataDir, "evil");
    fs.mkdirSync(src);
    fs.symlinkSync("/etc", path.join(src, "escape"));
    execFileSync("tar", ["-cf", path.join(sb.inDir, "evil.tar"), "-C", src, "."]);
    const done = outputUntilExit(sb);
    sb.launch(job({ extract: ["/kbs/in/evil.tar"], argv: ["/bin/true"] }));
    const { out, code } = await done;
    expect(code).toBe(125);
    expect(out).toContain("link points outside /work");
  });

  it("execs anything that is not python3, with the job's env", async () => {
    const sb = await backend.startWarm({ image: "menuconfig" });
    live.push(sb);
    const done = outputUntilExit(sb);
    sb.launch(job({ argv: ["/bin/sh", "-c", 'stty size; echo "$GREETING"'], env: { GREETING: "hi there" }, cols: 90, rows: 20 }));
    const { out, code } = await done;
    expect(code).toBe(0);
    expect(out.replace(/\r/g, "")).toBe("20 90\nhi there\n");
  });

  it("forwards a resize to the job's terminal, with SIGWINCH", async () => {
    const sb = await backend.startWarm({ image: "menuconfig" });
    live.push(sb);
    let seen = "";
    sb.onData((d) => (seen += d.toString()));
    const done = outputUntilExit(sb);
    sb.launch(job({ argv: resizeProbe }));
    await until(() => seen.includes("waiting-for-resize"), "the job to start");
    sb.resize(120, 40);
    const { out } = await done;
    expect(out).toContain("got-winch");
    expect(out).toContain("resized");
  });
});

describe("bwrap sandbox dirs", () => {
  it("removes dirs left by a dead kbs process at start, and keeps live ones", async () => {
    const root = path.join(dataDir, "sandboxes");
    const deadPid = Number(execFileSync("/bin/sh", ["-c", "echo $$"]).toString());
    fs.mkdirSync(path.join(root, "sb-dead"), { recursive: true });
    fs.writeFileSync(path.join(root, "sb-dead", "owner"), String(deadPid));
    fs.mkdirSync(path.join(root, "sb-live"), { recursive: true });
    fs.writeFileSync(path.join(root, "sb-live", "owner"), String(process.pid));
    await createBackend("bwrap", { dataDir, sandboxes: loadSettings().sandboxes, stagingDir: root });
    expect(fs.existsSync(path.join(root, "sb-dead"))).toBe(false);
    expect(fs.existsSync(path.join(root, "sb-live"))).toBe(true);
  });
});
