import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startKbs, type KbsProcess } from "./helpers/server";
import { addSessionProjects, enableDebugAndSave, metric, newSession, post, primedReady, quit, selectEntry, TINY_TITLE, TITLE } from "./helpers/sessions";
import { keys, TerminalClient } from "./helpers/terminal";
import { tmpDir } from "./helpers/tmp";

/**
 * Menuconfig sessions over the real WebSocket of a real `kbs serve`, in real bwrap
 * sandboxes: the kconfiglib frontend on a Klipper-like tree that ships its own
 * lib/kconfiglib, the mconf frontend (system kconfig-mconf) on a tiny tree, the
 * config store behind them, and every bad input of issue 5.
 */

describe("terminal sessions and the config store", () => {
  let dataDir: string;
  let kbs: KbsProcess;
  let url: string;

  beforeAll(async () => {
    dataDir = tmpDir();
    const work = tmpDir();
    await addSessionProjects(dataDir, work);
    kbs = await startKbs({ dataDir, withNext: false, env: { KBS_POOL_SIZE: "1", KBS_ALLOWED_ORIGINS: "https://portal.example" } });
    url = kbs.url;
    // Syncing three projects builds the kernel tree's tools (its newest tags): slow on a loaded machine.
  }, 300_000);
  afterAll(async () => {
    await kbs?.stop();
  });

  describe("config store API", () => {
    const text = "CONFIG_ENABLE_DEBUG=y\n# CONFIG_ENABLE_SERIAL is not set\nCONFIG_BOARD_NAME=\"my board\"\n";

    it("stores content-addressed: same input same id, CRLF and order do not matter; 201 then 200", async () => {
      const a = await post(`${url}/api/configs`, { project: "fw", rev: "v0.2.0", text });
      expect(a.status).toBe(201);
      expect(a.json.id).toMatch(/^[0-9a-f]{64}$/);
      const again = await post(`${url}/api/configs`, { project: "fw", rev: "v0.2.0", text });
      expect(again.status).toBe(200);
      expect(again.json.id).toBe(a.json.id);
      const crlf = text.split("\n").reverse().join("\r\n");
      expect((await post(`${url}/api/configs`, { project: "fw", rev: "v0.2.0", text: crlf })).json.id).toBe(a.json.id);
      // Another revision is another config.
      expect((await post(`${url}/api/configs`, { project: "fw", rev: "v0.1.0", text })).json.id).not.toBe(a.json.id);
    });

    it("GET returns the text, the minimal form and the symbols changed from their defaults (computed in a sandbox)", async () => {
      const { json } = await post(`${url}/api/configs`, { project: "fw", rev: "v0.2.0", text });
      const r = await fetch(`${url}/api/configs/${json.id}`);
      expect(r.status).toBe(200);
      const c = (await r.json()) as Record<string, unknown>;
      expect(c).toMatchObject({ id: json.id, project: "fw", rev: "v0.2.0", describe: "v0.2.0" });
      expect(c.text).toBe('CONFIG_BOARD_NAME="my board"\nCONFIG_ENABLE_DEBUG=y\n# CONFIG_ENABLE_SERIAL is not set\n');
      expect(c.defconfig).toContain("CONFIG_ENABLE_DEBUG=y");
      expect(c.defconfig).not.toContain("CONFIG_BLINK_PERIOD_MS");
      expect(c.changed).toEqual(
        expect.arrayContaining([
          { symbol: "ENABLE_DEBUG", value: "y", default: "n" },
          { symbol: "ENABLE_SERIAL", value: "n", default: "y" },
          { symbol: "BOARD_NAME", value: "my board", default: "demo-board" },
        ]),
      );
      const raw = await fetch(`${url}/api/configs/${json.id}/raw`);
      expect(raw.headers.get("content-disposition")).toMatch(/attachment; filename="fw-v0\.2\.0\.config"/);
      // The download is the file the tree's olddefconfig writes; the canonical form on request.
      expect(await raw.text()).toBe(c.written);
      expect(await (await fetch(`${url}/api/configs/${json.id}/raw?form=canonical`)).text()).toBe(c.text);
      expect(await (await fetch(`${url}/api/configs/${json.id}/defconfig`)).text()).toBe(c.defconfig);
    });

    it("diffs two configs symbol by symbol", async () => {
      const a = (await post(`${url}/api/configs`, { project: "fw", rev: "v0.2.0", text: "CONFIG_A=y\nCONFIG_B=1\n" })).json.id;
      const b = (await post(`${url}/api/configs`, { project: "fw", rev: "v0.2.0", text: "CONFIG_B=2\nCONFIG_C=m\n" })).json.id;
      const d = await (await fetch(`${url}/api/configs/${a}/diff/${b}`)).json();
      expect(d).toMatchObject({ added: [{ symbol: "C", value: "m" }], removed: [{ symbol: "A", value: "y" }], changed: [{ symbol: "B", from: "1", to: "2" }] });
    });

    it("keeps unknown symbols and warns about duplicates (the last wins)", async () => {
      const r = await post(`${url}/api/configs`, { project: "fw", rev: "v0.2.0", text: "CONFIG_NOT_A_SYMBOL=y\nCONFIG_ENABLE_DEBUG=y\nCONFIG_ENABLE_DEBUG=n\n" });
      expect(r.status).toBe(201);
      expect((r.json.warnings as string[])[0]).toMatch(/line 3: CONFIG_ENABLE_DEBUG is set again \(first on line 2\)/);
      const c = (await (await fetch(`${url}/api/configs/${r.json.id}`)).json()) as { text: string; changed: Array<{ symbol: string }> };
      expect(c.text).toContain("CONFIG_NOT_A_SYMBOL=y");
      expect(c.text).toContain("# CONFIG_ENABLE_DEBUG is not set");
      expect(c.changed.map((s) => s.symbol)).not.toContain("NOT_A_SYMBOL");
    });

    it("keeps shell metacharacters in strings as text, never running them", async () => {
      const marker = path.join(tmpDir(), "pwned");
      const nasty = `$(touch ${marker}); \`touch ${marker}\` && echo "x" | rm -rf / ; 'q' *`;
      const escaped = nasty.replace(/[\\"]/g, (ch) => `\\${ch}`);
      const r = await post(`${url}/api/configs`, { project: "fw", rev: "v0.2.0", text: `CONFIG_BOARD_NAME="${escaped}"\n` });
      const c = (await (await fetch(`${url}/api/configs/${r.json.id}`)).json()) as { text: string; defconfig: string; changed: Array<{ symbol: string; value: string }> };
      expect(c.text).toBe(`CONFIG_BOARD_NAME="${escaped}"\n`);
      expect(c.defconfig).toContain(`CONFIG_BOARD_NAME="${escaped}"`);
      expect(c.changed.find((s) => s.symbol === "BOARD_NAME")?.value).toBe(nasty);
      expect(fs.existsSync(marker)).toBe(false);
    });

    it("refuses binary garbage, bad lines (with line numbers), a 50 MB config, an unknown revision and project", async () => {
      const garbage = await post(`${url}/api/configs`, { project: "fw", rev: "v0.2.0", text: "CONFIG_A=y\n\u0000\u0001\u00ff\u0000binary" });
      expect(garbage.status).toBe(400);
      expect((garbage.json.error as { code: string }).code).toBe("config_not_text");
      const bad = await post(`${url}/api/configs`, { project: "fw", rev: "v0.2.0", text: "CONFIG_A=y\nrm -rf /\nCONFIG_B=maybe\n" });
      expect(bad.status).toBe(400);
      expect((bad.json.error as { message: string }).message).toMatch(/line 2: not a \.config line.*line 3: CONFIG_B/);
      const big = await fetch(`${url}/api/configs`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ project: "fw", rev: "v0.2.0", text: "CONFIG_A=y\n".repeat(5 * 1024 * 1024) }) });
      expect(big.status).toBe(413);
      expect(((await big.json()) as { error: { message: string } }).error.message).toMatch(/limit is 1048576 bytes/);
      const rev = await post(`${url}/api/configs`, { project: "fw", rev: "v9.9.9", text: "CONFIG_A=y\n" });
      expect(rev.status).toBe(404);
      expect((rev.json.error as { code: string }).code).toBe("unknown_revision");
      expect((await post(`${url}/api/configs`, { project: "nope", rev: "v1", text: "" })).status).toBe(404);
      expect((await fetch(`${url}/api/configs/${"0".repeat(64)}`)).status).toBe(404);
    });
  });

  describe("kconfiglib frontend (the tree's own lib/kconfiglib)", () => {
    it("navigates with arrow keys, toggles with space, saves with menuconfig's own S, and the store has it", async () => {
      const s = await newSession(url, { project: "fw", rev: "v0.3.0" });
      expect(s.wsPath).toBe(`/ws/sessions/${s.id}`);
      expect(s.id.length).toBeGreaterThanOrEqual(22);
      const c = await TerminalClient.connect(url, s.wsPath, { cols: 100, rows: 30 });
      expect((await c.untilMessage("ready")).kconfigHash).toBe(s.kconfigHash);
      await c.untilText(TITLE);
      await c.untilText("[ ] Debug messages");
      expect(((await (await fetch(`${url}/api/sessions/${s.id}`)).json()) as { frontend: string }).frontend).toBe("tree");
      // The tree's Kconfiglib was byte-compiled once for this kconfig hash.
      expect(JSON.parse(fs.readFileSync(path.join(dataDir, "kconfig-bin", s.kconfigHash, "tools.json"), "utf8"))).toEqual({ mconf: false, conf: false, pyc: true, env: {} });
      const none = await fetch(`${url}/api/sessions/${s.id}/config`);
      expect(none.status).toBe(404);
      expect(((await none.json()) as { error: { code: string } }).error.code).toBe("no_config_yet");
      const saved = await enableDebugAndSave(c);
      const text = await (await fetch(`${url}/api/sessions/${s.id}/config`)).text();
      expect(text).toContain("CONFIG_ENABLE_DEBUG=y");
      expect(text).toContain("CONFIG_FEATURE_LCD"); // v0.3.0's Kconfig
      // As Kconfiglib wrote it (its header and menu comments); the canonical text is what the id covers.
      const stored = (await (await fetch(`${url}/api/configs/${saved.configId as string}`)).json()) as { text: string; written: string; changed: unknown[] };
      expect(stored.written).toBe(text);
      expect(text).not.toBe(stored.text);
      expect(stored.changed).toContainEqual({ symbol: "ENABLE_DEBUG", value: "y", default: "n" });
      // Autosave: Q then Y writes again; the same content gives no new save, a change does.
      await c.untilText("Configuration saved");
      c.type(keys.enter);
      await c.arrow("up", 2); // from Debug messages, past the baud rate, to the serial console
      c.type(keys.space);
      await c.untilText("[ ] Enable serial console");
      c.type("Q");
      await c.untilText("Save configuration?");
      c.type("Y");
      const second = await c.untilMessage("saved", 1);
      expect(second.configId).not.toBe(saved.configId);
      expect((await c.untilMessage("exit")).code).toBe(0);
      await c.untilClosed();
      expect(await (await fetch(`${url}/api/sessions/${s.id}/config`)).text()).toContain("# CONFIG_ENABLE_SERIAL is not set");
    });

    it("starts from a stored config; an explicit save makes menuconfig write what is on screen, complete", async () => {
      const { json } = await post(`${url}/api/configs`, { project: "fw", rev: "v0.2.0", text: "CONFIG_ENABLE_DEBUG=y\n" });
      const s = await newSession(url, { project: "fw", rev: "v0.2.0", configId: json.id });
      const c = await TerminalClient.connect(url, s.wsPath);
      await c.untilText("[*] Debug messages");
      // Before any save, the session's config is the one it started from.
      expect(await (await fetch(`${url}/api/sessions/${s.id}/config`)).text()).toBe("CONFIG_ENABLE_DEBUG=y\n");
      c.control({ type: "save" });
      const saved = await c.untilMessage("saved");
      const text = await (await fetch(`${url}/api/sessions/${s.id}/config`)).text();
      expect(text).toContain("CONFIG_ENABLE_DEBUG=y");
      expect(text).toContain("CONFIG_BLINK_PERIOD_MS=500"); // completed with the tree's defaults
      expect(saved.configId).not.toBe(json.id);
      // A change menuconfig has not written (no S, no Q): the portal's Save still stores it.
      await selectEntry(c, "Target architecture", "Debug messages");
      c.type(keys.space);
      await c.untilText("[ ] Debug messages");
      c.control({ type: "save" });
      await c.until("a save with a new config id", () => c.messages.find((m) => m.type === "saved" && m.configId !== saved.configId));
      expect(await (await fetch(`${url}/api/sessions/${s.id}/config`)).text()).toContain("# CONFIG_ENABLE_DEBUG is not set");
      // It was menuconfig's own write: quitting now has nothing left to ask about.
      c.type("Q");
      expect((await c.untilMessage("exit")).code).toBe(0);
      await c.untilClosed();
    });

    it("reconnect restores the screen from a snapshot; a second socket replaces the first", async () => {
      const s = await newSession(url, { project: "fw", rev: "v0.3.0" });
      const a = await TerminalClient.connect(url, s.wsPath, { cols: 90, rows: 28 });
      await a.untilText(TITLE);
      await selectEntry(a, "Target architecture", "Optional features");
      a.type(keys.enter);
      await a.untilText("Heater control");
      const before = a.screen.lines();
      a.close();
      await a.untilClosed();
      const b = await TerminalClient.connect(url, s.wsPath, { cols: 90, rows: 28 });
      await b.untilMessage("snapshot");
      await b.untilText("Heater control");
      expect(b.messages.map((m) => m.type).slice(0, 2)).toEqual(["ready", "snapshot"]);
      expect(b.screen.lines()).toEqual(before);
      // A third connection takes over; the second is told why and closed.
      const c = await TerminalClient.connect(url, s.wsPath, { cols: 90, rows: 28 });
      await c.untilText("Heater control");
      expect((await b.untilMessage("error")).code).toBe("replaced");
      expect((await b.untilClosed()).code).toBe(4409);
      // Live output goes on to the newest client.
      c.type(keys.esc);
      await c.untilText("Debug messages");
      await quit(c);
    });
  });

  describe("mconf frontend (system kconfig-mconf)", () => {
    it("shows a clear message below 80x19, starts once resized, toggles, and saves on exit", async () => {
      const s = await newSession(url, { project: "tiny", rev: "v1.0" });
      const c = await TerminalClient.connect(url, s.wsPath, { cols: 60, rows: 15 });
      const small = await c.untilMessage("error");
      expect(small.code).toBe("terminal_too_small");
      await c.untilText("at least 80x19");
      c.resize(100, 30);
      await c.untilText(TINY_TITLE);
      await c.untilText("[ ] Enable the widget");
      c.type(keys.space);
      await c.untilText("[*] Enable the widget");
      c.type("\x1b\x1b"); // ESC ESC: leave, mconf asks to save
      await c.untilText(/save your new configuration/i);
      c.type(keys.enter);
      const saved = await c.untilMessage("saved");
      await c.untilMessage("exit");
      const text = await (await fetch(`${url}/api/sessions/${s.id}/config`)).text();
      expect(text).toContain("CONFIG_WIDGET=y");
      const stored = (await (await fetch(`${url}/api/configs/${saved.configId as string}`)).json()) as { changed: unknown[]; defconfig: string };
      expect(stored.changed).toContainEqual({ symbol: "WIDGET", value: "y", default: "n" });
      expect(stored.defconfig).toBe("CONFIG_WIDGET=y\n");
    });
  });

  describe("mconf frontend (the tree's own scripts/kconfig, built once per kconfig hash)", () => {
    it("builds the tree's mconf and conf, runs its mconf, and stores the save; conf computes the minimal form", async () => {
      const s = await newSession(url, { project: "kern", rev: "v6.1.2", arch: "x86_64" });
      const info = (await (await fetch(`${url}/api/sessions/${s.id}`)).json()) as { frontend: string };
      expect(info.frontend).toBe("tree");
      const tools = path.join(dataDir, "kconfig-bin", s.kconfigHash, "tools.json");
      // With the environment the tree's Makefile gives its Kconfig (the recipe's kconfigEnvProbe), probed in the sandbox.
      const gcc = execFileSync("gcc", ["--version"], { encoding: "utf8" }).split("\n")[0];
      expect(JSON.parse(fs.readFileSync(tools, "utf8"))).toEqual({ mconf: true, conf: true, pyc: false, env: { KERNELVERSION: "6.1.2", CC_VERSION_TEXT: gcc } });
      const c = await TerminalClient.connect(url, s.wsPath, { cols: 100, rows: 30 });
      await c.untilText("Fake Linux/x86_64");
      await c.untilText("[*] 64-bit kernel");
      c.type(keys.space);
      await c.untilText("[ ] 64-bit kernel");
      c.type("\x1b\x1b");
      await c.untilText(/save your new configuration/i);
      c.type(keys.enter);
      const saved = await c.untilMessage("saved");
      await c.untilMessage("exit");
      const stored = (await (await fetch(`${url}/api/configs/${saved.configId as string}`)).json()) as { text: string; defconfig: string };
      expect(stored.text).toContain("# CONFIG_64BIT is not set");
      expect(stored.defconfig).toContain("# CONFIG_64BIT is not set");
      // The second session on the same tree reuses the built tools.
      const builtAt = fs.statSync(tools).mtimeMs;
      const again = await newSession(url, { project: "kern", rev: "v6.1.2" });
      expect(fs.statSync(tools).mtimeMs).toBe(builtAt);
      const c2 = await TerminalClient.connect(url, again.wsPath, { cols: 100, rows: 30 });
      await c2.untilText("Fake Linux/x86_64");
      c2.type("\x1b\x1b");
      await c2.untilText(/save your new configuration/i);
      c2.type(keys.tab); // to < No >
      c2.type(keys.enter);
      await c2.untilMessage("exit");
      expect(c2.messages.some((m) => m.type === "saved")).toBe(false);
    });
  });

  describe("bad input on the socket and the session API", () => {
    it("refuses a session for an unknown revision, project or config", async () => {
      const r = await post(`${url}/api/sessions`, { project: "fw", rev: "no-such-tag" });
      expect(r.status).toBe(404);
      expect((r.json.error as { code: string }).code).toBe("unknown_revision");
      expect((await post(`${url}/api/sessions`, { project: "nope", rev: "v1" })).status).toBe(404);
      expect((await post(`${url}/api/sessions`, { project: "fw", rev: "v0.2.0", configId: "f".repeat(64) })).status).toBe(404);
      expect((await post(`${url}/api/sessions`, { project: "fw", rev: "v0.2.0", configId: "../../etc/passwd" })).status).toBe(400);
    });

    it("a socket whose first message is not init gets init_required and is closed; the session lives on", async () => {
      const s = await newSession(url, { project: "fw", rev: "v0.2.0" });
      const a = await TerminalClient.connect(url, s.wsPath, { init: false });
      a.type("hello");
      expect((await a.untilMessage("error")).code).toBe("init_required");
      expect((await a.untilClosed()).code).toBe(1008);
      const b = await TerminalClient.connect(url, s.wsPath, { init: false });
      b.control({ type: "resize", cols: 80, rows: 24 });
      expect((await b.untilMessage("error")).code).toBe("init_required");
      const c = await TerminalClient.connect(url, s.wsPath);
      await c.untilText(TITLE);
      await quit(c);
    });

    it("an oversize frame closes the socket (1009), a resize storm of 1,000 is coalesced, and the session still works", async () => {
      const s = await newSession(url, { project: "fw", rev: "v0.2.0" });
      const a = await TerminalClient.connect(url, s.wsPath);
      await a.untilText(TITLE);
      a.type("x".repeat(1024 * 1024));
      expect((await a.untilClosed()).code).toBe(1009);
      const b = await TerminalClient.connect(url, s.wsPath, { cols: 80, rows: 24 });
      await b.untilMessage("snapshot");
      for (let i = 0; i < 1000; i++) b.control({ type: "resize", cols: 60 + (i % 100), rows: 20 + (i % 30) });
      b.control({ type: "junk" });
      expect((await b.untilMessage("error")).code).toBe("bad_message");
      b.resize(120, 40);
      await b.until("a redraw at 120 columns", () => b.screen.lines().some((l) => /Debug messages/.test(l)) && b.screen.text().includes(TITLE));
      await selectEntry(b, "Target architecture", "Debug messages");
      b.type(keys.space);
      await b.untilText("[*] Debug messages");
      await quit(b);
    });

    it("refuses a bad Origin with 403; the server's own origin, configured origins and no origin are fine", async () => {
      const s = await newSession(url, { project: "fw", rev: "v0.2.0" });
      await expect(TerminalClient.connect(url, s.wsPath, { origin: "https://evil.example", init: false })).rejects.toThrow(/HTTP 403/);
      const own = await TerminalClient.connect(url, s.wsPath, { origin: url, init: false });
      own.close();
      const configured = await TerminalClient.connect(url, s.wsPath, { origin: "https://portal.example" });
      await configured.untilText(TITLE);
      await quit(configured);
    });

    it("an unknown or malformed session id gets unknown_session over the socket", async () => {
      for (const id of ["does-not-exist", "%E0%A4%A"]) {
        const c = await TerminalClient.connect(url, `/ws/sessions/${id}`, { init: false });
        expect((await c.untilMessage("error")).code).toBe("unknown_session");
        expect((await c.untilClosed()).code).toBe(4404);
      }
      expect((await fetch(`${url}/healthz`)).status).toBe(200);
    });

    it("the sandbox killed mid-session: the client gets error + exit, the last saved config stays", async () => {
      const s = await newSession(url, { project: "fw", rev: "v0.2.0" });
      const c = await TerminalClient.connect(url, s.wsPath);
      await c.untilText(TITLE);
      c.control({ type: "save" });
      const saved = await c.untilMessage("saved");
      const info = (await (await fetch(`${url}/api/sessions/${s.id}`)).json()) as { sandbox: string; state: string };
      expect(info.state).toBe("active");
      const pids = execFileSync("pgrep", ["-f", `/${info.sandbox}/`], { encoding: "utf8" }).trim().split("\n").map(Number);
      for (const pid of pids) process.kill(pid, "SIGKILL");
      const err = await c.untilMessage("error");
      expect(err.code).toBe("sandbox_failed");
      expect(err.message).toMatch(/last saved config is kept/);
      await c.untilMessage("exit");
      await c.untilText("[kbs] The sandbox running menuconfig was killed");
      await c.untilClosed();
      const after = await fetch(`${url}/api/sessions/${s.id}/config`);
      expect(after.status).toBe(200);
      expect((await (await fetch(`${url}/api/configs/${saved.configId as string}`)).json()).id).toBe(saved.configId);
      expect(((await (await fetch(`${url}/api/sessions/${s.id}`)).json()) as { endReason: string }).endReason).toBe("sandbox_failed");
    });

    it("saved configs and session configs survive a server restart; metrics count sessions", async () => {
      const metrics = await (await fetch(`${url}/metrics`)).text();
      expect(metrics).toMatch(/kbs_sessions_total \d+/);
      expect(metrics).toMatch(/kbs_sessions_ended_total\{reason="sandbox_failed"\} 1/);
      const { json } = await post(`${url}/api/configs`, { project: "fw", rev: "v0.2.0", text: "CONFIG_FEATURE_FAN=y\n" });
      const s = await newSession(url, { project: "fw", rev: "v0.2.0", configId: json.id });
      const c = await TerminalClient.connect(url, s.wsPath);
      await c.untilText(TITLE);
      c.control({ type: "save" });
      await c.untilMessage("saved");
      const before = await (await fetch(`${url}/api/sessions/${s.id}/config`)).text();
      await kbs.kill();
      kbs = await startKbs({ dataDir, withNext: false, env: { KBS_POOL_SIZE: "1" } });
      url = kbs.url;
      expect((await fetch(`${url}/api/configs/${json.id}`)).status).toBe(200);
      expect(await (await fetch(`${url}/api/sessions/${s.id}/config`)).text()).toBe(before);
      expect(((await (await fetch(`${url}/api/sessions/${s.id}`)).json()) as { state: string }).state).toBe("ended");
    });
  });
});

describe("session limits", () => {
  let kbs: KbsProcess;

  beforeAll(async () => {
    kbs = await startKbs({
      dataDir: tmpDir(),
      withNext: false,
      env: { KBS_POOL_SIZE: "0", KBS_SESSION_IDLE_SEC: "3", KBS_SESSION_MAX_SEC: "8", KBS_SESSION_GRACE_SEC: "2", KBS_SESSIONS_PER_CLIENT: "1" },
    });
  });
  afterAll(async () => {
    await kbs?.stop();
  });

  it("one session per client here: a second is refused with 429; an idle session ends with a message in the terminal", async () => {
    const s = await newSession(kbs.url, { project: "demo", rev: "v1" });
    const second = await post(`${kbs.url}/api/sessions`, { project: "demo", rev: "v1" });
    expect(second.status).toBe(429);
    expect((second.json.error as { message: string }).message).toMatch(/limit is 1 per address/);
    const c = await TerminalClient.connect(kbs.url, s.wsPath);
    await c.untilText(TITLE);
    // The built-in demo ships no Kconfiglib: the system's runs.
    expect(((await (await fetch(`${kbs.url}/api/sessions/${s.id}`)).json()) as { frontend: string }).frontend).toBe("system");
    const err = await c.untilMessage("error", 0, 15_000);
    expect(err.code).toBe("idle_timeout");
    await c.untilText("[kbs] This session was closed after 3 seconds without input");
    await c.untilClosed();
    expect(await (await fetch(`${kbs.url}/metrics`)).text()).toMatch(/kbs_sessions_ended_total\{reason="idle"\} 1/);
  });

  it("a session in use still ends at its maximum lifetime, saying so", async () => {
    const s = await newSession(kbs.url, { project: "demo", rev: "v1" });
    const c = await TerminalClient.connect(kbs.url, s.wsPath);
    await c.untilText(TITLE);
    // Keep typing (never idle for 3 s) until the 8 s lifetime ends the session.
    const typing = setInterval(() => c.type(c.screen.arrow("down")), 700);
    try {
      const err = await c.untilMessage("error", 0, 20_000);
      expect(err.code).toBe("max_lifetime");
      await c.untilText("[kbs] This session reached its maximum length of 8 seconds");
      await c.untilClosed();
    } finally {
      clearInterval(typing);
    }
  });

  it("a dropped socket keeps the session for the grace period only", async () => {
    const s = await newSession(kbs.url, { project: "demo", rev: "v1" });
    const c = await TerminalClient.connect(kbs.url, s.wsPath);
    await c.untilText(TITLE);
    c.close();
    await c.untilClosed();
    let info: { state: string; endReason: string | null } | undefined;
    for (let i = 0; i < 100 && info?.state !== "ended"; i++) {
      await new Promise((r) => setTimeout(r, 200));
      info = (await (await fetch(`${kbs.url}/api/sessions/${s.id}`)).json()) as typeof info;
    }
    expect(info).toMatchObject({ state: "ended", endReason: "disconnected" });
    const late = await TerminalClient.connect(kbs.url, s.wsPath);
    expect((await late.untilMessage("error")).code).toBe("unknown_session");
  });

  it("a primed session nobody takes ends at the idle limit, and its tree is not primed again until a session is started on it", async () => {
    await primedReady(kbs.url, "demo"); // primed after the sessions above
    const claims = () => metric(kbs.url, 'kbs_sandbox_claimed_total{image="menuconfig",from="cold"}');
    for (let i = 0; i < 100 && (await metric(kbs.url, 'kbs_sessions_primed{project="demo"}')) > 0; i++) await new Promise((r) => setTimeout(r, 200));
    expect(await metric(kbs.url, 'kbs_sessions_primed{project="demo"}')).toBe(0);
    const before = await claims();
    // Well past the priming delay: a tree still hot would have claimed a sandbox by now.
    await new Promise((r) => setTimeout(r, 2000));
    expect(await claims()).toBe(before);
    const s = await newSession(kbs.url, { project: "demo", rev: "v1" });
    expect(((await (await fetch(`${kbs.url}/api/sessions/${s.id}`)).json()) as { primed: boolean }).primed).toBe(false);
    // The session is drawn and left first: waiting for the primer meanwhile could outlast its grace period (2 s) or lifetime (8 s).
    const c = await TerminalClient.connect(kbs.url, s.wsPath);
    await c.untilText(TITLE);
    await quit(c);
    await primedReady(kbs.url, "demo");
  });
});
