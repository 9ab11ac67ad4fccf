// The browser side of the terminal protocol (DESIGN.md "Terminal protocol"), free of
// React and xterm so it can be read and tested on its own.
//
// Binary frames carry raw terminal bytes both ways; text frames carry JSON control
// messages. Output is acknowledged only once the terminal has drawn it, so a slow
// browser slows the pty down instead of queueing megabytes. A dropped socket is
// reopened with backoff; the server then sends `snapshot` and the serialized screen,
// which replaces whatever the terminal showed.

export type ConnectionState = "connecting" | "connected" | "reconnecting" | "ended";

export type ServerMessage =
  | { type: "ready"; session: string; kconfigHash: string }
  | { type: "saved"; configId: string }
  | { type: "exit"; code: number }
  | { type: "error"; code: string; message: string }
  | { type: "snapshot" };

export interface TerminalSize {
  cols: number;
  rows: number;
}

export interface ProtocolClientOptions {
  /** Absolute ws:// or wss:// URL of the session. */
  url: string;
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
  WebSocket?: typeof WebSocket;
}

const defaultBackoff = [250, 500, 1000, 2000, 4000, 5000, 5000, 5000];
/** Acks are batched: sent when this much was drawn, or at the next tick. */
const ackBatchBytes = 16 * 1024;

export class ProtocolClient {
  private ws: WebSocket | undefined;
  private state: ConnectionState = "connecting";
  private attempt = 0;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private ackTimer: ReturnType<typeof setTimeout> | undefined;
  private unacked = 0;
  private expectSnapshot = false;
  private ended = false;
  private readonly encoder = new TextEncoder();
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
    const Ws = this.opts.WebSocket ?? WebSocket;
    const ws = new Ws(this.opts.url);
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    ws.onopen = () => {
      this.attempt = 0;
      const { cols, rows } = this.opts.size();
      this.sendJson({ type: "init", cols, rows });
    };
    ws.onmessage = (ev: MessageEvent) => this.receive(ev.data as ArrayBuffer | string);
    ws.onclose = (ev: CloseEvent) => {
      if (this.ws !== ws) return;
      this.ws = undefined;
      this.scheduleReconnect(ev.reason || undefined);
    };
  }

  /** Keystrokes (xterm onData) or binary input (xterm onBinary, one byte per char). */
  input(data: string, binary = false): void {
    const bytes = binary ? Uint8Array.from(data, (c) => c.charCodeAt(0) & 0xff) : this.encoder.encode(data);
    if (this.ws?.readyState !== 1) return;
    this.ws.send(bytes);
    this.flow.sent += bytes.length;
  }

  resize(size: TerminalSize): void {
    this.sendJson({ type: "resize", ...size });
  }

  /** Ask the session to save; the answer is a `saved` message. Returns false when offline. */
  save(): boolean {
    return this.sendJson({ type: "save" });
  }

  /** Close the socket as a network failure would (tests use this to exercise reconnect). */
  dropSocket(): void {
    this.ws?.close(4000, "dropped by the client");
  }

  /** Stop for good (page left): no reconnect; the normal close (1000) ends the session on the server. */
  close(): void {
    this.ended = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.ackTimer);
    const ws = this.ws;
    this.ws = undefined;
    ws?.close(1000, "closed by the page");
  }

  private setState(state: ConnectionState, detail?: string): void {
    this.state = state;
    this.opts.onState?.(state, detail);
  }

  private end(detail: string): void {
    this.ended = true;
    clearTimeout(this.retryTimer);
    this.setState("ended", detail);
    const ws = this.ws;
    this.ws = undefined;
    ws?.close(1000, "session ended");
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

  private receive(data: ArrayBuffer | string): void {
    if (typeof data !== "string") {
      this.output(new Uint8Array(data));
      return;
    }
    let msg: ServerMessage;
    try {
      msg = JSON.parse(data) as ServerMessage;
    } catch {
      // A text frame that is not JSON can only be the serialized screen after `snapshot`.
      this.output(this.encoder.encode(data));
      return;
    }
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
        if (isFatal(msg.code)) this.end(msg.message);
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
    if (this.sendJson({ type: "ack", bytes: this.unacked })) this.flow.acked += this.unacked;
    this.unacked = 0;
  }

  private sendJson(msg: object): boolean {
    if (this.ws?.readyState !== 1) return false;
    this.ws.send(JSON.stringify(msg));
    return true;
  }
}

/** Errors after which reconnecting cannot help (server/terminal/protocol.ts ErrorCode). */
const fatalErrors = new Set(["unknown_session", "replaced", "idle_timeout", "max_lifetime", "sandbox_failed", "session_closed", "server_shutdown", "init_required"]);
const isFatal = (code: string) => fatalErrors.has(code);

/** ws(s):// URL for a server path on the page's origin. */
export function socketUrl(path: string, location: { protocol: string; host: string }): string {
  return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${path}`;
}
