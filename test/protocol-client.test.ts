import xtermHeadless from "@xterm/headless";
import fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CreatedSession } from "../contracts/api";
import { ProtocolClient, type ConnectionState } from "../contracts/terminal-client";
import { ServerMessage } from "../contracts/terminal-protocol";
import { apiPath, socketPath, socketUrl } from "../contracts/urls";
import { startKbs, type KbsProcess } from "./helpers/server";
import { wsOpener } from "./helpers/terminal";
import { tmpDir } from "./helpers/tmp";

// The browser's terminal client (contracts/terminal-client.ts) against the real server and
// a real menuconfig session, over the `ws` package's socket; @xterm/headless stands in
// for the page's xterm.

let kbs: KbsProcess;
let dataDir: string;

beforeAll(async () => {
  dataDir = tmpDir();
  kbs = await startKbs({ dataDir, withNext: false });
});

afterAll(async () => {
  await kbs?.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

async function createSession(): Promise<string> {
  const res = await fetch(kbs.url + apiPath.sessions(), { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ project: "demo", rev: "v1" }) });
  expect(res.status).toBe(201);
  return CreatedSession.parse(await res.json()).wsPath;
}

function connect(wsPath: string, backoffMs?: number[]) {
  const term = new xtermHeadless.Terminal({ cols: 100, rows: 30, allowProposedApi: true });
  const states: ConnectionState[] = [];
  const details: Array<string | undefined> = [];
  const messages: ServerMessage[] = [];
  let resets = 0;
  const client = new ProtocolClient({
    openSocket: wsOpener(socketUrl(wsPath, kbs.url)),
    size: () => ({ cols: term.cols, rows: term.rows }),
    write: (bytes, drawn) => term.write(bytes, drawn),
    reset: () => {
      resets++;
      term.reset();
    },
    onState: (s, d) => {
      states.push(s);
      details.push(d);
    },
    onMessage: (m) => messages.push(m),
    backoffMs,
  });
  const screen = () => {
    const buf = term.buffer.active;
    return Array.from({ length: buf.length }, (_, i) => buf.getLine(i)?.translateToString(true) ?? "").join("\n");
  };
  return { client, term, states, details, messages, screen, resets: () => resets };
}

async function until(what: string, check: () => boolean, timeoutMs = 30_000) {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("terminal protocol client", () => {
  it("starts menuconfig at its size, draws it, acknowledges what it drew, and sends keys", async () => {
    const t = connect(await createSession());
    t.client.connect();
    await until("the menuconfig title", () => t.screen().includes("kbs demo firmware configuration"));
    expect(t.states).toContain("connected");
    expect(t.messages[0]).toMatchObject({ type: "ready" });
    await until("acks", () => t.client.flow.acked > 0);
    expect(t.client.flow.acked).toBeLessThanOrEqual(t.client.flow.received);

    // Down to "Debug messages", toggle it with space.
    const lines = t.screen().split("\n");
    const top = lines.findIndex((l) => l.trim() === "(Top)");
    const entries = lines.slice(top + 2).filter((l) => l.trim());
    const at = entries.findIndex((l) => l.includes("Debug messages"));
    expect(at).toBeGreaterThan(0);
    // curses switches the terminal to application cursor keys, as a browser's xterm would follow.
    const down = t.term.modes.applicationCursorKeysMode ? "\x1bOB" : "\x1b[B";
    for (let i = 0; i < at; i++) t.client.input(down);
    t.client.input(" ");
    await until("the toggled symbol", () => t.screen().includes("[*] Debug messages"));
    // Once output stops, everything drawn has been acknowledged.
    await until("every byte acknowledged", () => t.client.flow.acked === t.client.flow.received);
    // Every control message the server sent is one the protocol contract defines.
    for (const m of t.messages) ServerMessage.parse(m);
    t.client.close();
  });

  it("reconnects after a dropped socket; the screen comes back from the server's snapshot", async () => {
    const t = connect(await createSession(), [100, 200, 400]);
    t.client.connect();
    await until("the menuconfig title", () => t.screen().includes("kbs demo firmware configuration"));
    t.client.dropSocket();
    await until("a reconnect", () => t.client.connects === 2 && t.client.connection === "connected");
    expect(t.states).toContain("reconnecting");
    // The client forgot the screen on reconnect; only the snapshot can have redrawn it.
    expect(t.resets()).toBeGreaterThanOrEqual(1);
    await until("the snapshot", () => t.messages.some((m) => m.type === "snapshot"));
    await until("the restored title", () => t.screen().includes("kbs demo firmware configuration"));
    t.client.close();
  });

  it("ends at once, without retrying, for a session the server does not know", async () => {
    const t = connect(socketPath.session("no-such-session"));
    t.client.connect();
    await until("the end", () => t.client.connection === "ended");
    expect(t.details[t.states.indexOf("ended")]).toMatch(/No such session/);
    expect(t.states).not.toContain("reconnecting");
    expect(t.client.connects).toBe(0);
  });
});
