import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocketServer, type RawData, type WebSocket } from "ws";
import { shown } from "../edge";
import { log } from "../../core/log";
import type { SessionManager } from "../../terminal/manager";
import { parseClientMessage, type ServerMessage } from "../../../contracts/terminal-protocol";
import type { Session, TerminalClient } from "../../terminal/session";
import type { UpgradeRoute } from "./route";

export const WS_PREFIX = "/ws/sessions/";
/** Keystrokes and pastes are small; anything larger is refused (close 1009). */
export const MAX_FRAME_BYTES = 256 * 1024;
const PING_MS = 30_000;

/**
 * Origins allowed to open a session socket: those of the allowed hosts and the
 * configured extra ones (never "whatever the Host header says": a rebound name
 * sends its own Host), and clients that send none (the CLI; browsers always send
 * one), so another site cannot drive a session.
 */
export function originAllowed(req: IncomingMessage, allowsOrigin: (origin: string) => boolean): boolean {
  const origin = req.headers.origin;
  return origin === undefined || allowsOrigin(origin);
}

function refuse(socket: Duplex, status: number, text: string, message: string): void {
  const body = JSON.stringify({ error: { code: status === 403 ? "bad_origin" : "bad_request", message } });
  socket.end(`HTTP/1.1 ${status} ${text}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

/** A WebSocket as a session client. */
class SocketClient implements TerminalClient {
  constructor(private readonly ws: WebSocket) {}
  sendBytes(data: Buffer): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(data, { binary: true });
  }
  sendMessage(msg: ServerMessage): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(JSON.stringify(msg));
  }
  close(code: number, reason: string): void {
    this.ws.close(code, reason.slice(0, 120));
  }
  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }
}

/** The `/ws/sessions/:id` upgrade route: the DESIGN.md terminal protocol over `ws`. */
export function sessionUpgradeRoute(sessions: SessionManager, allowsOrigin: (origin: string) => boolean): { route: UpgradeRoute; close(): void } {
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES });
  const ping = setInterval(() => {
    for (const ws of wss.clients) {
      const alive = ws as WebSocket & { kbsAlive?: boolean };
      if (alive.kbsAlive === false) {
        ws.terminate();
        continue;
      }
      alive.kbsAlive = false;
      ws.ping();
    }
  }, PING_MS);
  ping.unref();

  const route: UpgradeRoute = {
    prefix: WS_PREFIX,
    handle(req, socket, head) {
      if (!originAllowed(req, allowsOrigin)) {
        refuse(socket, 403, "Forbidden", `Origin ${shown(req.headers.origin)} may not open terminal sessions. Open kbs from its own address, or add its host to KBS_ALLOWED_HOSTS (or the origin to KBS_ALLOWED_ORIGINS).`);
        return;
      }
      let id = "";
      try {
        id = decodeURIComponent((req.url ?? "").split("?")[0]!.slice(WS_PREFIX.length));
      } catch {
        // A malformed id is an unknown session.
      }
      wss.handleUpgrade(req, socket, head, (ws) => serve(ws, sessions.get(id)));
    },
  };
  return {
    route,
    close() {
      clearInterval(ping);
      for (const ws of wss.clients) ws.terminate();
      wss.close();
    },
  };
}

function serve(ws: WebSocket, session: Session | undefined): void {
  const client = new SocketClient(ws);
  const alive = ws as WebSocket & { kbsAlive?: boolean };
  alive.kbsAlive = true;
  ws.on("pong", () => (alive.kbsAlive = true));
  if (!session?.active) {
    client.sendMessage({ type: "error", code: "unknown_session", message: "No such session (it ended, or the id is wrong). Start a new session; saved configs are kept." });
    ws.close(4404, "unknown session");
    return;
  }
  let initialised = false;
  const fail = (code: "init_required" | "bad_message", message: string) => {
    client.sendMessage({ type: "error", code, message });
    ws.close(1008, code);
  };
  ws.on("message", (data: RawData, isBinary: boolean) => {
    alive.kbsAlive = true;
    const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
    if (isBinary) {
      if (!initialised) return fail("init_required", 'The first message must be {"type":"init","cols":C,"rows":R}.');
      session.input(client, buf);
      return;
    }
    const parsed = parseClientMessage(buf.toString("utf8"));
    if (!parsed.ok) {
      if (!initialised) return fail("init_required", `The first message must be {"type":"init","cols":C,"rows":R} (${parsed.reason}).`);
      client.sendMessage({ type: "error", code: "bad_message", message: parsed.reason });
      return;
    }
    const msg = parsed.msg;
    if (!initialised) {
      if (msg.type !== "init") return fail("init_required", `The first message must be {"type":"init","cols":C,"rows":R}, not '${msg.type}'.`);
      initialised = true;
      void session.attach(client, msg.cols, msg.rows).catch((e: unknown) => log.error({ err: e, session: session.id }, "attach failed"));
      return;
    }
    switch (msg.type) {
      case "init":
      case "resize":
        session.resize(msg.cols, msg.rows);
        break;
      case "ack":
        session.ack(client, msg.bytes);
        break;
      case "save":
        void session.save(client);
        break;
    }
  });
  ws.on("error", (e) => log.debug({ err: e, session: session.id }, "session socket error"));
  // A normal close (1000) from the client ends the session (the user is done); any other close is a drop.
  ws.on("close", (code: number) => (code === 1000 ? session.leave(client) : session.detach(client)));
}
