// The one client of the terminal protocol (DESIGN.md "Terminal protocol", ./terminal-protocol.ts),
// used by the browser, the tests and the benchmarks over whichever WebSocket they have.
//
// Binary frames carry raw terminal bytes both ways; text frames carry JSON control
// messages. `TerminalConnection` is one socket speaking that; `ProtocolClient` is the
// page's client on top: output is acknowledged only once the terminal has drawn it, so
// a slow browser slows the pty down instead of queueing megabytes, and a dropped socket
// is reopened with backoff (the server then sends `snapshot` and the serialized screen,
// which replaces whatever the terminal showed).

import { fatalErrorCodes } from "./terminal-error-codes";
import type { ClientMessage, ServerMessage } from "./terminal-protocol";

/** What the client needs of a socket: the browser's WebSocket and the `ws` package each have a small adapter. */
export interface TerminalSocket {
  /** A string is a text frame, bytes a binary frame. */
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
}

/** What a socket reports: text frames as strings, binary frames as bytes. */
export interface SocketEvents {
  open(): void;
  message(data: string | Uint8Array): void;
  close(code: number, reason: string): void;
}

/** Opens a socket (to the session's URL, which the opener knows) that reports to `on`. */
export type OpenSocket = (on: SocketEvents) => TerminalSocket;

export interface TerminalSize {
  cols: number;
  rows: number;
}

export interface ConnectionEvents {
  opened?(): void;
  /** Terminal output: a binary frame (or a text frame that is not JSON: only the serialized screen can be). */
  output(bytes: Uint8Array): void;
  message(msg: ServerMessage): void;
  closed(code: number, reason: string): void;
}

const encoder = new TextEncoder();

/** One socket to a session: control messages as JSON text frames, terminal bytes as binary ones. */
export class TerminalConnection {
  private readonly socket: TerminalSocket;
  private isOpen = false;

  constructor(open: OpenSocket, on: ConnectionEvents) {
    this.socket = open({
      open: () => {
        this.isOpen = true;
        on.opened?.();
      },
      message: (data) => {
        if (typeof data !== "string") return on.output(data);
        let msg: ServerMessage;
        try {
          msg = JSON.parse(data) as ServerMessage;
        } catch {
          return on.output(encoder.encode(data));
        }
        on.message(msg);
      },
      close: (code, reason) => {
        this.isOpen = false;
        on.closed(code, reason);
      },
    });
  }

  get open(): boolean {
    return this.isOpen;
  }

  /** Send a control message; false when the socket is not open. (Tests send malformed ones, hence `object`.) */
  send(msg: ClientMessage | object): boolean {
    if (!this.isOpen) return false;
    this.socket.send(JSON.stringify(msg));
    return true;
  }

  init(size: TerminalSize): boolean {
    return this.send({ type: "init", ...size });
  }

  resize(size: TerminalSize): boolean {
    return this.send({ type: "resize", ...size });
  }

  /** Acknowledge `bytes` of output as processed (flow control). */
  ack(bytes: number): boolean {
    return this.send({ type: "ack", bytes });
  }

  /** Ask the session to save; the answer is a `saved` message. */
  save(): boolean {
    return this.send({ type: "save" });
  }

  /** Keystrokes: text is sent as its UTF-8 bytes. Returns the bytes sent (0 when not open). */
  input(data: string | Uint8Array): number {
    if (!this.isOpen) return 0;
    const bytes = typeof data === "string" ? encoder.encode(data) : data;
    this.socket.send(bytes);
    return bytes.length;
  }

  close(code?: number, reason?: string): void {
    this.isOpen = false;
    this.socket.close(code, reason);
  }
}

export type ConnectionState = "connecting" | "connected" | "reconnecting" | "ended";

export interface ProtocolClientOptions {
  /** Opens a socket to the session; called again on every reconnect. */
  openSocket: OpenSocket;
  /** The terminal's current size, sent with `init` on every (re)connect. */
  size(): TerminalSize;
  /** Draw output; call `drawn` once the terminal has processed it (acks it to the server). */
  write(bytes: Uint8Array, drawn: () => void): void;
  /** Forget the screen: a snapshot follows. */
  reset(): void;
  onState?(state: ConnectionState, detail?: string): void;
  onMessage?(msg: ServerMessage): void;
  /** Delays between reconnect attempts; after the last one the session counts as ended. */
  backoffMs?: number[];
}

const defaultBackoff = [250, 500, 1000, 2000, 4000, 5000, 5000, 5000];
/** Acks are batched: sent when this much was drawn, or at the next tick. */
const ackBatchBytes = 16 * 1024;

/** The page's terminal client: reconnects, acks what was drawn, and knows when the session is over. */
export class ProtocolClient {
  private conn: TerminalConnection | undefined;
  private state: ConnectionState = "connecting";
  private attempt = 0;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private ackTimer: ReturnType<typeof setTimeout> | undefined;
  private unacked = 0;
  private expectSnapshot = false;
  private ended = false;
  /** Bytes received and drawn, for the flow indicator. */
  readonly flow = { received: 0, acked: 0, sent: 0 };
  /** How many times the server said `ready` (1 + reconnects). */
  connects = 0;

  constructor(private readonly opts: ProtocolClientOptions) {}

  get connection(): ConnectionState {
    return this.state;
  }

  connect(): void {
    if (this.ended) return;
    const conn: TerminalConnection = new TerminalConnection(this.opts.openSocket, {
      opened: () => {
        this.attempt = 0;
        conn.init(this.opts.size());
      },
      output: (bytes) => this.output(bytes),
      message: (msg) => this.receive(msg),
      closed: (_code, reason) => {
        if (this.conn !== conn) return;
        this.conn = undefined;
        this.scheduleReconnect(reason || undefined);
      },
    });
    this.conn = conn;
  }

  /** Keystrokes (xterm onData) or binary input (xterm onBinary, one byte per char). */
  input(data: string, binary = false): void {
    this.flow.sent += this.conn?.input(binary ? Uint8Array.from(data, (c) => c.charCodeAt(0) & 0xff) : data) ?? 0;
  }

  resize(size: TerminalSize): void {
    this.conn?.resize(size);
  }

  /** Ask the session to save; the answer is a `saved` message. Returns false when offline. */
  save(): boolean {
    return this.conn?.save() ?? false;
  }

  /** Close the socket as a network failure would (tests use this to exercise reconnect). */
  dropSocket(): void {
    this.conn?.close(4000, "dropped by the client");
  }

  /** Stop for good (page left): no reconnect; the normal close (1000) ends the session on the server. */
  close(): void {
    this.ended = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.ackTimer);
    const conn = this.conn;
    this.conn = undefined;
    conn?.close(1000, "closed by the page");
  }

  private setState(state: ConnectionState, detail?: string): void {
    this.state = state;
    this.opts.onState?.(state, detail);
  }

  private end(detail: string): void {
    this.ended = true;
    clearTimeout(this.retryTimer);
    this.setState("ended", detail);
    const conn = this.conn;
    this.conn = undefined;
    conn?.close(1000, "session ended");
  }

  private scheduleReconnect(reason?: string): void {
    if (this.ended) return;
    const backoff = this.opts.backoffMs ?? defaultBackoff;
    if (this.attempt >= backoff.length) {
      this.end(reason ?? "The connection to the session was lost and could not be restored.");
      return;
    }
    const delay = backoff[this.attempt++]!;
    this.setState("reconnecting", reason);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  private receive(msg: ServerMessage): void {
    switch (msg.type) {
      case "ready":
        // On a reconnect the old screen goes at once: the snapshot that follows redraws it.
        if (this.connects++ > 0) this.opts.reset();
        this.setState("connected");
        break;
      case "snapshot":
        this.expectSnapshot = true;
        this.opts.reset();
        break;
      case "exit":
        this.opts.onMessage?.(msg);
        this.end(`menuconfig exited with code ${msg.code}.`);
        return;
      case "error":
        // A fatal error ends the session and becomes its end reason; others are the page's to show.
        if (fatalErrorCodes.has(msg.code)) this.end(msg.message);
        else this.opts.onMessage?.(msg);
        return;
    }
    this.opts.onMessage?.(msg);
  }

  private output(bytes: Uint8Array): void {
    // The first output after a reconnect is the snapshot: the session is live again.
    if (this.expectSnapshot) {
      this.expectSnapshot = false;
      if (this.state !== "connected") this.setState("connected");
    }
    this.flow.received += bytes.length;
    this.opts.write(bytes, () => this.drawn(bytes.length));
  }

  private drawn(n: number): void {
    this.unacked += n;
    if (this.unacked >= ackBatchBytes) this.flushAck();
    else this.ackTimer ??= setTimeout(() => this.flushAck(), 0);
  }

  private flushAck(): void {
    clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    if (this.unacked === 0) return;
    if (this.conn?.ack(this.unacked)) this.flow.acked += this.unacked;
    this.unacked = 0;
  }
}
