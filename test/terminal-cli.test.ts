import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { kbsBin } from "./helpers/server";
import { TerminalScreen } from "./helpers/terminal";
import { tmpDir } from "./helpers/tmp";

/**
 * `kbs menuconfig` drives the same session in this process's terminal. Here its
 * stdin/stdout are pipes (no TTY: 80x24, no raw mode), read through a headless xterm.
 */
function menuconfig(dataDir: string, args: string[]) {
  const child = spawn(process.execPath, [kbsBin, "menuconfig", ...args], {
    env: { ...process.env, KBS_DATA_DIR: dataDir, KBS_UPSTREAMS: "0", KBS_LOG_LEVEL: "warn" },
    stdio: ["pipe", "pipe", "pipe"],
  });
  const screen = new TerminalScreen(80, 24);
  let writes = Promise.resolve();
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (writes = writes.then(() => screen.write(d))));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
  const until = async (text: string) => {
    for (let i = 0; i < 300; i++) {
      await writes;
      if (screen.text().includes(text)) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`no '${text}' on screen:\n${screen.text()}\nstderr: ${stderr}`);
  };
  return { child, screen, until, exited, stderr: () => stderr };
}

describe("kbs menuconfig", () => {
  it("runs the session in this terminal, starting from --config, and writes the saved config to --out", async () => {
    const dataDir = tmpDir();
    const dir = tmpDir();
    const start = path.join(dir, "start.config");
    fs.writeFileSync(start, "CONFIG_FEATURE_FAN=y\r\n");
    const out = path.join(dir, "out.config");
    const m = menuconfig(dataDir, ["demo", "v1", "--config", start, "--out", out]);
    await m.until("[ ] Debug messages");
    for (let i = 0; i < 6; i++) m.child.stdin.write(m.screen.arrow("down"));
    m.child.stdin.write(" ");
    await m.until("[*] Debug messages");
    m.child.stdin.write("Q");
    await m.until("Save configuration?");
    m.child.stdin.write("Y");
    expect(await m.exited).toBe(0);
    expect(m.stderr()).toMatch(/saved config [0-9a-f]{64}/);
    const text = fs.readFileSync(out, "utf8");
    expect(text).toContain("CONFIG_ENABLE_DEBUG=y");
    expect(text).toContain("CONFIG_FEATURE_FAN=y");
    expect(text).toContain("CONFIG_BLINK_PERIOD_MS=500");
  });

  it("refuses a --config that is not a .config, naming the line, and an unknown revision", async () => {
    const dataDir = tmpDir();
    const bad = path.join(tmpDir(), "bad.config");
    fs.writeFileSync(bad, "CONFIG_A=y\nthis is not a config\n");
    const m = menuconfig(dataDir, ["demo", "v1", "--config", bad]);
    expect(await m.exited).toBe(2);
    expect(m.stderr()).toMatch(/line 2: not a \.config line/);
    const r = menuconfig(dataDir, ["demo", "v9.9"]);
    expect(await r.exited).toBe(2);
    expect(r.stderr()).toMatch(/no revision 'v9\.9'/);
  });
});
