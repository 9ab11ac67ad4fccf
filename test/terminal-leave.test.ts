import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startKbs, type KbsProcess } from "./helpers/server";
import { addSessionProjects, newSession, post, selectEntry, TITLE } from "./helpers/sessions";
import { keys, TerminalClient } from "./helpers/terminal";
import { tmpDir } from "./helpers/tmp";

/**
 * Sessions end when the user leaves, through a real `kbs serve` (real bwrap sandboxes,
 * real WebSocket): DELETE stores what menuconfig shows and ends the session, a normal
 * close (1000) ends it at once, a dropped socket waits out the grace period (or a few
 * seconds once the page said it left), and the per-address limit says which sessions
 * linger and when the first frees.
 */

interface SessionInfo {
  state: string;
  endReason: string | null;
  configId: string | null;
  lingersUntil: string | null;
}

async function info(url: string, id: string): Promise<SessionInfo> {
  return (await (await fetch(`${url}/api/sessions/${id}`)).json()) as SessionInfo;
}

async function poll<T>(what: string, check: () => Promise<T | null | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const untilEnded = (url: string, id: string, timeoutMs: number) =>
  poll(`session ${id} to end`, async () => {
    const s = await info(url, id);
    return s.state === "ended" ? s : undefined;
  }, timeoutMs);

const send = (url: string, method: string, path: string, body: unknown = {}) =>
  fetch(url + path, { method, headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });

describe("sessions end when the user leaves", () => {
  let kbs: KbsProcess;
  let url: string;

  beforeAll(async () => {
    const dataDir = tmpDir();
    await addSessionProjects(dataDir, tmpDir());
    // A long grace period: anything that ends quickly here was ended on purpose.
    kbs = await startKbs({ dataDir, withNext: false, env: { KBS_POOL_SIZE: "1", KBS_BUILTINS: "0", KBS_BUILD_WORKERS: "0", KBS_SESSION_GRACE_SEC: "600", KBS_SESSIONS_PER_CLIENT: "2" } });
    url = kbs.url;
    // Syncing three projects builds the kernel tree's tools (its newest tags): slow on a loaded machine.
  }, 300_000);
  afterAll(async () => {
    await kbs?.stop();
  });

  it("DELETE stores what menuconfig shows (never saved by the user), tells the socket, and ends the session; again is a no-op", async () => {
    const s = await newSession(url, { project: "fw", rev: "v0.2.0" });
    const c = await TerminalClient.connect(url, s.wsPath);
    await c.untilText(TITLE);
    await selectEntry(c, "Target architecture", "Debug messages");
    c.type(keys.space);
    await c.untilText("[*] Debug messages");

    const r = await send(url, "DELETE", `/api/sessions/${s.id}`);
    expect(r.status).toBe(200);
    const rec = (await r.json()) as SessionInfo;
    expect(rec).toMatchObject({ state: "ended", endReason: "closed" });
    expect(rec.configId).toMatch(/^[0-9a-f]{64}$/);
    const stored = (await (await fetch(`${url}/api/configs/${rec.configId}`)).json()) as { text: string };
    expect(stored.text).toContain("CONFIG_ENABLE_DEBUG=y");

    const closed = await c.untilClosed();
    expect(closed.code).toBe(1000);
    expect(c.messages.find((m) => m.type === "error")).toMatchObject({ code: "session_closed" });
    expect(String(c.messages.find((m) => m.type === "error")?.message)).toMatch(/last saved config is kept/);

    const again = await send(url, "DELETE", `/api/sessions/${s.id}`);
    expect(again.status).toBe(200);
    expect(((await again.json()) as SessionInfo).configId).toBe(rec.configId);
    const unknown = await send(url, "DELETE", "/api/sessions/no-such-session");
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: { code: string } }).error.code).toBe("unknown_session");
  });

  it("a socket closed normally (1000) ends the session at once; a dropped one keeps it for the grace period", async () => {
    const a = await newSession(url, { project: "fw", rev: "v0.2.0" });
    const ca = await TerminalClient.connect(url, a.wsPath);
    await ca.untilText(TITLE);
    ca.ws.close(1000, "closed by the page");
    expect(await untilEnded(url, a.id, 20_000)).toMatchObject({ endReason: "closed" });

    const b = await newSession(url, { project: "fw", rev: "v0.2.0" });
    const cb = await TerminalClient.connect(url, b.wsPath);
    await cb.untilText(TITLE);
    cb.ws.terminate();
    await cb.untilClosed();
    // Other codes are drops too (1001: a tab closed or navigated away).
    const again = await TerminalClient.connect(url, b.wsPath);
    await again.untilMessage("snapshot");
    again.ws.close(1001, "going away");
    await again.untilClosed();
    expect((await info(url, b.id)).state).toBe("active");
    await send(url, "DELETE", `/api/sessions/${b.id}`);
  });

  it("the per-address limit names the lingering sessions and when the first frees; the page's beacon frees it within seconds", { timeout: 120_000 }, async () => {
    const open = await newSession(url, { project: "fw", rev: "v0.2.0" });
    const co = await TerminalClient.connect(url, open.wsPath);
    await co.untilText(TITLE);
    const gone = await newSession(url, { project: "fw", rev: "v0.2.0" });
    const cg = await TerminalClient.connect(url, gone.wsPath);
    await cg.untilText(TITLE);
    cg.ws.terminate();
    await poll("the dropped session to linger", async () => (await info(url, gone.id)).lingersUntil);

    const refused = await post(`${url}/api/sessions`, { project: "fw", rev: "v0.2.0" });
    expect(refused.status).toBe(429);
    const message = (refused.json.error as { message: string }).message;
    expect(message).toMatch(/You already have 2 menuconfig sessions open \(the limit is 2 per address\)\. 1 of them has no page connected/);
    const secs = Number(/the first ends in (\d+) s/.exec(message)?.[1]);
    expect(secs).toBeGreaterThan(500);
    expect(secs).toBeLessThanOrEqual(600);

    // pagehide: the page says it is leaving (sendBeacon posts JSON); a reload would reconnect in time.
    const beacon = await send(url, "POST", `/api/sessions/${gone.id}/leave`);
    expect(beacon.status).toBe(202);
    const t0 = Date.now();
    expect(await untilEnded(url, gone.id, 30_000)).toMatchObject({ endReason: "disconnected" });
    expect(Date.now() - t0).toBeLessThan(25_000);
    const next = await newSession(url, { project: "fw", rev: "v0.2.0" });
    for (const id of [open.id, next.id]) await send(url, "DELETE", `/api/sessions/${id}`);
  });

  it("after the beacon, a client that reconnects (a reload) keeps the session", async () => {
    const s = await newSession(url, { project: "fw", rev: "v0.2.0" });
    const c = await TerminalClient.connect(url, s.wsPath);
    await c.untilText(TITLE);
    expect((await send(url, "POST", `/api/sessions/${s.id}/leave`)).status).toBe(202);
    c.ws.close(1001, "going away");
    await c.untilClosed();
    // Dropped after the beacon: it would end within seconds.
    const lingering = await poll("the session to count down", async () => (await info(url, s.id)).lingersUntil);
    expect(Date.parse(lingering!) - Date.now()).toBeLessThan(11_000);
    const reloaded = await TerminalClient.connect(url, s.wsPath);
    await reloaded.untilMessage("snapshot");
    await reloaded.untilText(TITLE);
    // Connected again: nothing is counting down.
    expect(await info(url, s.id)).toMatchObject({ state: "active", lingersUntil: null });
    await send(url, "DELETE", `/api/sessions/${s.id}`);
  });
});
