import { afterAll, describe, expect, it } from "vitest";
import { tmpDir } from "../../test/helpers/tmp";
import { registry } from "../core/metrics";
import { SandboxPool } from "./pool";
import { loadSettings } from "../core/settings";
import { createBackend } from "./service";
import { outputUntilExit, until } from "../../test/helpers/sandbox";
import type { WarmSandbox } from "./types";

const backend = await createBackend("bwrap", { dataDir: tmpDir("kbs-pool-"), sandboxes: loadSettings().sandboxes });
const pool = new SandboxPool(backend, { size: 2, images: ["menuconfig"], idleMs: 600_000, spawnConcurrency: 4 });
afterAll(() => pool.close());

const warmCount = () => pool.stats().images.menuconfig!.warm;

async function echoes(sb: WarmSandbox, word: string): Promise<string> {
  const done = outputUntilExit(sb);
  sb.launch({ extract: [], cwd: "/work", argv: ["/bin/echo", word], env: {}, cols: 80, rows: 24 });
  return (await done).out.trim();
}

describe("sandbox pool", () => {
  it("cold-starts claims before it is started, and does not warm", async () => {
    const sb = await pool.claim({ image: "menuconfig" });
    expect(await echoes(sb, "cold")).toBe("cold");
    await sb.kill();
    expect(pool.stats().images.menuconfig).toMatchObject({ warm: 0, coldStarts: 1 });
  });

  it("fills, hands out warm sandboxes and refills after claims", async () => {
    pool.start();
    await pool.filled();
    const before = pool.stats().images.menuconfig!.coldStarts;
    const a = await pool.claim({ image: "menuconfig" });
    const b = await pool.claim({ image: "menuconfig" });
    expect(a.id).not.toBe(b.id);
    expect(pool.stats().images.menuconfig!.coldStarts).toBe(before);
    await until(() => warmCount() === 2, "the pool to refill");
    expect(await echoes(a, "a")).toBe("a");
    expect(await echoes(b, "b")).toBe("b");
    await Promise.all([a.kill(), b.kill()]);
    const metrics = await registry.metrics();
    expect(metrics).toMatch(/kbs_sandbox_warm\{image="menuconfig"\} 2/);
    expect(metrics).toMatch(/kbs_sandbox_claimed_total\{image="menuconfig",from="warm"\} 2/);
    expect(metrics).toMatch(/kbs_sandbox_spawn_seconds_count\{backend="bwrap",image="menuconfig"\} \d+/);
  });

  it("serves a burst of 20 claims at once with 20 distinct working sandboxes, then refills", async () => {
    const claimed = await Promise.all(Array.from({ length: 20 }, () => pool.claim({ image: "menuconfig" })));
    expect(new Set(claimed.map((s) => s.id)).size).toBe(20);
    const words = await Promise.all(claimed.map((s, i) => echoes(s, `n${i}`)));
    expect(words).toEqual(claimed.map((_, i) => `n${i}`));
    await Promise.all(claimed.map((s) => s.kill()));
    await until(() => warmCount() === 2, "the pool to refill after the burst");
    expect(pool.liveCount).toBe(2);
  });

  it("replaces warm sandboxes that sat idle past the limit", async () => {
    const idle = new SandboxPool(backend, { size: 1, images: ["menuconfig"], idleMs: 1000, spawnConcurrency: 2 });
    try {
      idle.start();
      await idle.filled();
      await until(() => idle.stats().images.menuconfig!.spawned >= 2, "an idle sandbox to be replaced");
      await idle.filled();
      expect(idle.stats().images.menuconfig!.claimed).toBe(0);
    } finally {
      await idle.close();
    }
    expect(idle.liveCount).toBe(0);
  });
});
