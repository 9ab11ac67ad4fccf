import fs from "node:fs";
import path from "node:path";
import type { BenchFigure, BenchSuite } from "../types";
import { SandboxPool } from "../../server/sandbox/pool";
import { loadSettings } from "../../server/core/settings";
import { createBackend, type BackendName } from "../../server/sandbox/service";
import type { SandboxBackend, WarmSandbox } from "../../server/sandbox/types";

const GiB = 2 ** 30;

/** Claim from a filled pool, launch a job that prints one byte, and time claim -> first byte. */
async function claimToFirstByte(pool: SandboxPool, image: string, argv: string[]): Promise<number> {
  await pool.filled(180_000);
  const t0 = performance.now();
  const sb = await pool.claim({ image });
  const first = new Promise<number>((resolve) => sb.onData(() => resolve(performance.now())));
  sb.launch({ extract: [], cwd: "/work", argv, env: {}, cols: 80, rows: 24 });
  const t1 = await first;
  await sb.kill();
  return t1 - t0;
}

/** Start one sandbox cold and time it until its stub is ready for a job. */
async function coldStart(backend: SandboxBackend, image: string): Promise<{ ms: number; sb: WarmSandbox }> {
  const t0 = performance.now();
  const sb = await backend.startWarm({ image });
  return { ms: performance.now() - t0, sb };
}

/** A process and all its descendants, from /proc. */
function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of fs.readdirSync("/proc")) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, "latin1");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), pid]);
    } catch {
      /* gone */
    }
  }
  const out: number[] = [];
  const todo = [root];
  while (todo.length) {
    const p = todo.pop()!;
    out.push(p);
    todo.push(...(children.get(p) ?? []));
  }
  return out;
}

/** RSS and PSS (MB) summed over a sandbox's processes (smaps_rollup). */
function memoryOf(pid: number): { rss: number; pss: number } {
  let rss = 0;
  let pss = 0;
  for (const p of processTree(pid)) {
    try {
      const text = fs.readFileSync(`/proc/${p}/smaps_rollup`, "latin1");
      rss += Number(/^Rss:\s+(\d+)/m.exec(text)?.[1] ?? 0);
      pss += Number(/^Pss:\s+(\d+)/m.exec(text)?.[1] ?? 0);
    } catch {
      /* gone or a kernel thread */
    }
  }
  return { rss: rss / 1024, pss: pss / 1024 };
}

async function backendFigures(name: BackendName, workDir: string, quick: boolean, log: (m: string) => void): Promise<BenchFigure[]> {
  const backend = await createBackend(name, { dataDir: path.join(workDir, name), sandboxes: loadSettings().sandboxes });
  const avail = await backend.available();
  const vm = name === "qemu";
  const figures = {
    warm: `sandbox.${name}.warm-claim-to-first-byte`,
    cold: `sandbox.${name}.cold-start`,
    rss: `sandbox.${name}.idle-warm-rss`,
    pss: `sandbox.${name}.idle-warm-pss`,
    fit: `sandbox.${name}.warm-fit-in-24GiB`,
  };
  if (!avail.ok) {
    return Object.values(figures).map((n) => ({ name: n, unit: "ms" as const, samples: [], skipped: avail.reason }));
  }
  const image = "menuconfig";
  // Runs in the already-started interpreter of the warm stub (on qemu too: its menuconfig guests have Python).
  const argv = ["python3", "-c", "import sys; sys.stdout.write('x'); sys.stdout.flush()"];

  log(`${name}: cold starts`);
  const coldRuns = vm ? (quick ? 2 : 3) : quick ? 5 : 15;
  const cold: number[] = [];
  const idle: WarmSandbox[] = [];
  for (let i = 0; i < coldRuns; i++) {
    const { ms, sb } = await coldStart(backend, image);
    cold.push(ms);
    idle.push(sb);
  }
  // Let the idle ones settle, then read their memory.
  await new Promise((r) => setTimeout(r, 1000));
  const mem = idle.map((sb) => memoryOf(sb.pid));
  await Promise.all(idle.map((sb) => sb.kill()));

  log(`${name}: warm claim to first byte`);
  const pool = new SandboxPool(backend, { size: vm ? 1 : 2, images: [image], idleMs: 3_600_000, spawnConcurrency: 2 });
  pool.start();
  const warm: number[] = [];
  try {
    for (let i = 0; i < (vm ? (quick ? 2 : 3) : quick ? 10 : 30); i++) warm.push(await claimToFirstByte(pool, image, argv));
  } finally {
    await pool.close();
  }
  const pssMean = mem.reduce((a, m) => a + m.pss, 0) / mem.length;
  return [
    { name: figures.warm, unit: "ms", samples: warm, target: vm ? undefined : "p50 <= 20 ms", note: `claim from a filled pool, launch \`${argv.join(" ")}\`, first pty byte` },
    { name: figures.cold, unit: "ms", samples: cold, note: vm ? "qemu TCG boot of the cloud kernel + busybox/Python initramfs until the warm stub is ready" : "sandbox start until the warm stub (python3 + curses + kconfiglib) is ready" },
    { name: figures.rss, unit: "MB", samples: mem.map((m) => m.rss), note: "RSS summed over the sandbox's processes (shared pages counted in each)" },
    { name: figures.pss, unit: "MB", samples: mem.map((m) => m.pss), target: vm ? undefined : "p50 <= 25 MB", note: "PSS summed over the sandbox's processes (smaps_rollup)" },
    { name: figures.fit, unit: "count", samples: [Math.floor((24 * GiB) / (pssMean * 2 ** 20))], note: `24 GiB / mean PSS ${pssMean.toFixed(1)} MB (memory only; CPU and kbs itself not counted)` },
  ];
}

/** 100 sandboxes at once (one-shot runs that overlap), counting errors. */
async function concurrent(workDir: string, log: (m: string) => void): Promise<BenchFigure[]> {
  const backend = await createBackend("bwrap", { dataDir: path.join(workDir, "burst"), sandboxes: loadSettings().sandboxes });
  const n = 100;
  log(`bwrap: ${n} concurrent sandboxes`);
  let live = 0;
  let peak = 0;
  const t0 = performance.now();
  const results = await Promise.allSettled(
    Array.from({ length: n }, async (_, i) => {
      live++;
      peak = Math.max(peak, live);
      try {
        const r = await backend.run({ image: "menuconfig", argv: ["/bin/sh", "-c", `sleep 3; echo ${i}`], timeoutMs: 120_000 });
        if (r.code !== 0 || r.stdout.toString() !== `${i}\n`) throw new Error(`sandbox ${i}: code ${r.code}: ${r.stderr.toString().trim()}`);
      } finally {
        live--;
      }
    }),
  );
  const failures = results.filter((r) => r.status === "rejected");
  const wall = performance.now() - t0;
  return [
    {
      name: "sandbox.bwrap.concurrent-100-errors",
      unit: "count",
      samples: [failures.length],
      target: "max <= 0 count",
      note: `${n} sandboxes each running \`sleep 3\` at once (peak ${peak} alive), all done in ${(wall / 1000).toFixed(1)} s${failures.length ? `; first error: ${(failures[0] as PromiseRejectedResult).reason}` : ""}`,
    },
  ];
}

export const suite: BenchSuite = async (ctx) => {
  const out: BenchFigure[] = [];
  for (const name of ["bwrap", "qemu", "docker"] as const) out.push(...(await backendFigures(name, ctx.workDir, ctx.quick, ctx.log)));
  out.push(...(await concurrent(ctx.workDir, ctx.log)));
  return out;
};

