import type { FakeFirmwareRepo } from "./fixtures/fake-firmware";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startKbs, type KbsProcess } from "./helpers/server";
import { addSessionProjects, enableDebugAndSave, metric, newSession, post, primedReady, quit, quitMconf, selectEntry, TITLE } from "./helpers/sessions";
import { keys, TerminalClient, TerminalScreen } from "./helpers/terminal";
import { tmpDir } from "./helpers/tmp";

/**
 * Primed menuconfig sessions through a real `kbs serve` (real bwrap sandboxes, real
 * WebSocket): after a session on a tree, the server launches the tree's menuconfig
 * ahead of need at 120x40 with no client; the next session on it is handed that one
 * and the client sees it at its own size, exactly as a fresh session would draw.
 */

async function info(url: string, id: string): Promise<{ primed: boolean | null; state: string; commit: string }> {
  return (await (await fetch(`${url}/api/sessions/${id}`)).json()) as { primed: boolean | null; state: string; commit: string };
}

/** Open a session's socket and wait until `text` is drawn and the screen stops changing. */
async function settled(url: string, wsPath: string, text: string, size = { cols: 100, rows: 30 }): Promise<TerminalClient & { firstFrame: Promise<Buffer> }> {
  const c = await TerminalClient.connect(url, wsPath, size);
  // The first output frame (after a hand-over: the snapshot); init was just sent, so nothing came yet.
  const firstFrame = new Promise<Buffer>((resolve) => c.ws.on("message", (d: Buffer, binary: boolean) => binary && resolve(d)));
  await c.untilText(text);
  let last = "";
  await c.until("the screen to settle", () => {
    const now = c.screen.text();
    const same = now === last;
    last = now;
    return same;
  });
  return Object.assign(c, { firstFrame });
}

describe("primed menuconfig sessions", () => {
  let kbs: KbsProcess;
  let url: string;
  let fw: FakeFirmwareRepo;

  beforeAll(async () => {
    const dataDir = tmpDir();
    const work = tmpDir();
    fw = await addSessionProjects(dataDir, work);
    kbs = await startKbs({ dataDir, withNext: false, env: { KBS_POOL_SIZE: "1", KBS_BUILTINS: "0", KBS_BUILD_WORKERS: "0", KBS_SESSIONS_PER_CLIENT: "16" } });
    url = kbs.url;
    // Syncing three projects builds the kernel tree's tools (its newest tags): slow on a loaded machine.
  }, 300_000);
  afterAll(async () => {
    await kbs?.stop();
  });

  it("the next session on a tree is handed the primed one: its screen at the client's size, keys, a save stored for its own revision", async () => {
    // The first session on the tree (v0.2.0) is a fresh one, drawn at 100x30 from the start.
    const first = await newSession(url, { project: "fw", rev: "v0.2.0" });
    expect((await info(url, first.id)).primed).toBe(false);
    const a = await settled(url, first.wsPath, "Debug messages");
    const fresh = a.screen.lines();
    await quit(a);
    await primedReady(url, "fw");
    const handed = await metric(url, "kbs_sessions_primed_handovers_total");
    const activeBefore = await metric(url, "kbs_sessions_active");
    expect(activeBefore).toBe(0); // the primed session is not a session anyone can reach yet

    // c4 is another commit with v0.2.0's Kconfig: the same tree, so the same primed session.
    const s = await newSession(url, { project: "fw", rev: fw.commits.c4! });
    expect(s.kconfigHash).toBe(first.kconfigHash);
    expect(await info(url, s.id)).toMatchObject({ primed: true, state: "active", commit: fw.commits.c4 });
    expect(await metric(url, "kbs_sessions_primed_handovers_total")).toBe(handed + 1);
    expect(await metric(url, "kbs_sessions_active")).toBe(1);
    const none = await fetch(`${url}/api/sessions/${s.id}/config`);
    expect(((await none.json()) as { error: { code: string } }).error.code).toBe("no_config_yet");

    const c = await settled(url, s.wsPath, "Debug messages");
    expect(c.messages.map((m) => m.type).slice(0, 2)).toEqual(["ready", "snapshot"]);
    expect(c.messages[0]).toMatchObject({ session: s.id, kconfigHash: s.kconfigHash });
    // The snapshot alone is the drawn menu, cut to the client's 100x30.
    const snapshot = new TerminalScreen(100, 30);
    await snapshot.write(await c.firstFrame);
    expect(snapshot.text()).toContain(TITLE);
    expect(snapshot.text()).toContain("Debug messages");
    // Launched at 120x40, shown at 100x30 as a session started at 100x30 draws it.
    await c.until("the primed screen to match a fresh one at 100x30", () => c.screen.text() === fresh.join("\n"));
    expect(c.screen.text()).toContain(TITLE);

    const saved = await enableDebugAndSave(c);
    const text = await (await fetch(`${url}/api/sessions/${s.id}/config`)).text();
    expect(text).toContain("CONFIG_ENABLE_DEBUG=y");
    const stored = (await (await fetch(`${url}/api/configs/${saved.configId as string}`)).json()) as { written: string; commit: string; describe: string };
    expect(stored.written).toBe(text);
    expect(stored.describe).not.toBe("v0.2.0"); // stored for c4, the revision this session was asked for
    await c.untilText("Configuration saved");
    c.type(keys.enter);
    c.type("Q"); // nothing unsaved: menuconfig quits at once
    expect((await c.untilMessage("exit")).code).toBe(0);
    await c.untilClosed();
  });

  it("a session from a stored config is never primed, and leaves the primed ones for the next", async () => {
    const ready = await primedReady(url, "fw");
    const { json } = await post(`${url}/api/configs`, { project: "fw", rev: "v0.2.0", text: "CONFIG_ENABLE_DEBUG=y\n" });
    const s = await newSession(url, { project: "fw", rev: "v0.2.0", configId: json.id });
    expect((await info(url, s.id)).primed).toBe(false);
    const c = await settled(url, s.wsPath, "[*] Debug messages");
    expect(await metric(url, `kbs_sessions_primed{project="fw"}`)).toBe(ready);
    await quit(c);
  });

  it("more requests at once than primed sessions: each ready one is handed to one request only, the rest get sessions of their own; all draw the same screen and keys stay in their own", async () => {
    // How many are primed follows the tree's recent demand (and so this machine's speed).
    const ready = await primedReady(url, "fw");
    const handed = await metric(url, "kbs_sessions_primed_handovers_total");
    const all = await Promise.all(Array.from({ length: ready + 1 }, () => newSession(url, { project: "fw", rev: "v0.2.0" })));
    expect(new Set(all.map((s) => s.id)).size).toBe(ready + 1);
    const primed = await Promise.all(all.map((s) => info(url, s.id).then((i) => i.primed)));
    // The ready ones are all taken; the extra request may wait for one the primer launched meanwhile.
    expect(primed.filter(Boolean).length).toBeGreaterThanOrEqual(ready);
    expect(await metric(url, "kbs_sessions_primed_handovers_total")).toBe(handed + primed.filter(Boolean).length);
    const clients = await Promise.all(all.map((s) => settled(url, s.wsPath, "Debug messages")));
    const [first, ...rest] = clients;
    for (const c of rest) await c.until("the same screen as the first", () => c.screen.text() === first!.screen.text());
    // A key in one session changes its screen only: no two requests share a sandbox.
    await selectEntry(first!, "Target architecture", "Debug messages");
    first!.type(keys.space);
    await first!.untilText("[*] Debug messages");
    for (const c of rest) expect(c.screen.text()).toContain("[ ] Debug messages");
    await Promise.all(clients.map((c) => quit(c)));
  });

  it("mconf (system kconfig-mconf): primed at 120x40, handed over at 100x30, redrawn at that size; keys and save work", async () => {
    const first = await newSession(url, { project: "tiny", rev: "v1.0" });
    const a = await settled(url, first.wsPath, "Enable the widget");
    const fresh = a.screen.text();
    await quitMconf(a);
    await primedReady(url, "tiny");
    const s = await newSession(url, { project: "tiny", rev: "v1.0" });
    expect((await info(url, s.id)).primed).toBe(true);
    const c = await settled(url, s.wsPath, "Enable the widget");
    await c.until("the primed mconf screen to match a fresh one at 100x30", () => c.screen.text() === fresh);
    c.type(keys.space);
    await c.untilText("[*] Enable the widget");
    c.type("\x1b\x1b");
    await c.untilText(/save your new configuration/i);
    c.type(keys.enter);
    await c.untilMessage("saved");
    await c.untilMessage("exit");
    expect(await (await fetch(`${url}/api/sessions/${s.id}/config`)).text()).toContain("CONFIG_WIDGET=y");
  });

  it("mconf (the fake kernel tree's own): a primed session per arch, handed over and redrawn at the client's size", async () => {
    const first = await newSession(url, { project: "kern", rev: "v6.1.2", arch: "x86_64" });
    const a = await settled(url, first.wsPath, "[*] 64-bit kernel");
    const fresh = a.screen.text();
    await quitMconf(a);
    await primedReady(url, "kern");
    const s = await newSession(url, { project: "kern", rev: "v6.1.2", arch: "x86_64" });
    expect((await info(url, s.id)).primed).toBe(true);
    const c = await settled(url, s.wsPath, "[*] 64-bit kernel");
    await c.until("the primed kernel screen to match a fresh one at 100x30", () => c.screen.text() === fresh);
    expect(c.screen.text()).toContain("Fake Linux/x86_64");
    c.type(keys.space);
    await c.untilText("[ ] 64-bit kernel");
    await quitMconf(c);
  });
});

describe("priming disabled (KBS_PRIMED_TREES=0)", () => {
  let kbs: KbsProcess;

  beforeAll(async () => {
    kbs = await startKbs({ dataDir: tmpDir(), withNext: false, env: { KBS_POOL_SIZE: "1", KBS_BUILD_WORKERS: "0", KBS_PRIMED_TREES: "0" } });
  });
  afterAll(async () => {
    await kbs?.stop();
  });

  it("every session is a fresh one and no sandbox is claimed for priming", async () => {
    for (let i = 0; i < 2; i++) {
      const s = await newSession(kbs.url, { project: "demo", rev: "v1" });
      expect((await info(kbs.url, s.id)).primed).toBe(false);
      const c = await settled(kbs.url, s.wsPath, TITLE);
      await quit(c);
      // Long enough for priming to have claimed a sandbox, were it on.
      await new Promise((r) => setTimeout(r, 1500));
    }
    const claimed = (await metric(kbs.url, 'kbs_sandbox_claimed_total{image="menuconfig",from="warm"}')) + (await metric(kbs.url, 'kbs_sandbox_claimed_total{image="menuconfig",from="cold"}'));
    expect(claimed).toBe(2);
    expect(await metric(kbs.url, "kbs_sessions_primed_handovers_total")).toBe(0);
  });
});
