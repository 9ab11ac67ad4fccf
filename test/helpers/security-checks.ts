import net from "node:net";
import path from "node:path";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { alive, pidsOfUid } from "../../server/sandbox/procs";
import { outputUntilExit, until } from "./sandbox";
import type { RunRequest, SandboxBackend } from "../../server/sandbox/types";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

export interface SecurityTarget {
  backend: () => SandboxBackend;
  image: string;
  /** The host data dir the backend was given (must stay invisible inside). */
  dataDir: string;
  /** Whether each sandbox has its own host uid (bwrap as root): then leftovers are checked by uid too. */
  ownUid: boolean;
  /** Added to wall-clock limits: a VM boots before the job runs. */
  bootMs?: number;
  /** Per-test timeout (VM backends need more than vitest's default). */
  testTimeoutMs?: number;
}

/**
 * The security checks every backend must pass, on real sandboxes: each thing a
 * sandboxed job tries here must fail. The commands are plain sh and busybox applets
 * so the same checks run on the host's /usr (bwrap) and in a busybox guest (qemu).
 */
export function securityChecks(name: string, t: SecurityTarget): void {
  describe(`${name}: sandbox security`, () => {
    const test = (title: string, fn: () => Promise<void>) => it(title, fn, t.testTimeoutMs);
    let server: net.Server;
    let port = 0;
    let connections = 0;
    const sh = (script: string, more: Partial<RunRequest> = {}) =>
      t.backend().run({ image: t.image, argv: ["/bin/sh", "-c", script], timeoutMs: 50_000 + (t.bootMs ?? 0), ...more });
    const out = async (script: string, more: Partial<RunRequest> = {}) => {
      const r = await sh(script, more);
      return r.stdout.toString() + r.stderr.toString();
    };

    beforeAll(async () => {
      server = net.createServer((s) => {
        connections++;
        s.destroy();
      });
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
      port = (server.address() as net.AddressInfo).port;
    });
    afterAll(() => new Promise<void>((r) => server.close(() => r())));

    test("has no network: the host's loopback port, outside addresses and DNS all fail", async () => {
      const o = await out(
        [
          `busybox nc -w 3 127.0.0.1 ${port} </dev/null && echo CONNECTED-LOCAL`,
          "busybox nc -w 3 1.1.1.1 53 </dev/null && echo CONNECTED-OUTSIDE",
          "busybox nc -w 3 10.0.2.2 22 </dev/null && echo CONNECTED-GATEWAY",
          "busybox nslookup example.com >/dev/null 2>&1 && echo RESOLVED",
          "cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' '",
          "echo checked",
        ].join("; "),
      );
      expect(o).toContain("checked");
      expect(o).not.toMatch(/CONNECTED|RESOLVED/);
      expect(o.split("\n").filter((l) => /^[a-z0-9]+$/.test(l) && l !== "checked")).toEqual(["lo"]);
      expect(connections).toBe(0);
    });

    test("cannot read the data dir, /root or the repo", async () => {
      const o = await out(
        [t.dataDir, "/root", REPO, path.join(REPO, "package.json")].map((p) => `ls -d '${p}' >/dev/null 2>&1 && echo "VISIBLE ${p}"`).join("; ") + "; echo checked",
      );
      expect(o.trim()).toBe("checked");
    });

    test("cannot write outside /work and /kbs/out", async () => {
      const targets = ["/usr/x", "/etc/x", "/x", "/kbs/x", "/proc/x", "/sys/x", "/bin/x", "/dev/x"];
      const o = await out(`${targets.map((p) => `touch ${p} 2>/dev/null && echo "WROTE ${p}"`).join("; ")}; touch /work/ok && echo WORK-OK`);
      expect(o.trim()).toBe("WORK-OK");
    });

    test("sees only its own processes and cannot kill a host process", async () => {
      const host = spawn("sleep", ["300"], { stdio: "ignore" });
      try {
        const o = await out(
          `kill -9 ${host.pid} 2>/dev/null && echo "HOST-$((6*7))"; for p in /proc/[0-9]*; do cat $p/cmdline 2>/dev/null | tr '\\0' ' '; echo; done`,
        );
        expect(o).not.toContain("HOST-42");
        expect(alive(host.pid!)).toBe(true);
        expect(o).not.toContain("sleep 300");
        expect(o).not.toContain("vitest");
        const procs = o.split("\n").filter((l) => l.trim());
        expect(procs.length).toBeLessThanOrEqual(6);
      } finally {
        host.kill("SIGKILL");
      }
    });

    test("contains a fork bomb: the sandbox dies, the host is fine, nothing is left", async () => {
      const r = await sh("id -u; f() { f | f & }; f; sleep 300", { limits: { processes: 64 }, timeoutMs: 8000 + (t.bootMs ?? 0) });
      expect(r.code === 0 && !r.timedOut).toBe(false);
      const after = await sh("echo alive");
      expect(after.stdout.toString()).toBe("alive\n");
      if (t.ownUid) expect(pidsOfUid(Number(r.stdout.toString().split("\n")[0]))).toEqual([]);
    });

    test("cannot fill the disk past its tmpfs size", async () => {
      const o = await out("dd if=/dev/zero of=/work/fill bs=65536 count=256 2>&1; echo rc=$?", { workSizeBytes: 4 * 2 ** 20 });
      expect(o).toContain("No space left on device");
      expect(o).not.toContain("rc=0");
    });

    test("is killed when it runs past its CPU limit", async () => {
      const r = await sh("while :; do :; done", { limits: { cpuSeconds: 1 }, timeoutMs: 55_000 + (t.bootMs ?? 0) });
      expect(r.timedOut).toBe(false);
      // SIGXCPU (24) at the soft limit or SIGKILL (9) at the hard one, reported shell-style.
      expect([128 + 9, 128 + 24]).toContain(r.code ?? (r.signal === "SIGKILL" ? 137 : -1));
    });

    test("leaves no process behind when a claimed sandbox is killed", async () => {
      const sb = await t.backend().startWarm({ image: t.image });
      const done = outputUntilExit(sb);
      let seen = "";
      sb.onData((d) => (seen += d.toString()));
      sb.launch({
        extract: [],
        cwd: "/work",
        argv: ["/bin/sh", "-c", "(sleep 1000 &); setsid sleep 1000 & nohup sleep 1000 >/dev/null 2>&1 & id -u; echo spawned; sleep 1000"],
        env: {},
        cols: 80,
        rows: 24,
      });
      await until(() => seen.includes("spawned"), "the job to start its children");
      const uid = Number(/(\d+)\r*\n/.exec(seen)![1]);
      await sb.kill();
      await done;
      expect(alive(sb.pid)).toBe(false);
      if (t.ownUid) expect(pidsOfUid(uid)).toEqual([]);
    });
  });
}
