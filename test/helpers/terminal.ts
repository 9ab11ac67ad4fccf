import xtermHeadless from "@xterm/headless";
import WebSocket from "ws";
import { TerminalConnection, type OpenSocket } from "../../contracts/terminal-client";
import type { ServerMessage } from "../../contracts/terminal-protocol";
import { socketUrl } from "../../contracts/urls";

/**
 * A terminal client for tests: the protocol client (contracts/terminal-client.ts) over
 * a `ws` socket, feeding every output byte into a headless xterm, so a test reads the
 * screen as lines of text, as a person would see it. The benchmarks' clients use the
 * same `ws` adapter.
 */

/** A `ws` socket as the terminal client's socket (binary frames as Buffers, text frames as strings). */
export const wsSocket =
  (ws: WebSocket): OpenSocket =>
  (on) => {
    ws.on("open", () => on.open());
    ws.on("message", (data: Buffer, isBinary) => on.message(isBinary ? data : data.toString("utf8")));
    ws.on("close", (code, reason) => on.close(code, reason.toString()));
    // A failed or refused connection closes right after its error: the client acts on the close.
    ws.on("error", () => undefined);
    return { send: (data) => ws.send(data, { binary: typeof data !== "string" }), close: (code, reason) => ws.close(code, reason) };
  };

/** Opens a new `ws` socket to `url` on every call (the protocol client reconnects with it). */
export const wsOpener =
  (url: string, opts: WebSocket.ClientOptions = {}): OpenSocket =>
  (on) =>
    wsSocket(new WebSocket(url, opts))(on);

export class TerminalScreen {
  readonly term: InstanceType<typeof xtermHeadless.Terminal>;

  constructor(cols: number, rows: number) {
    this.term = new xtermHeadless.Terminal({ cols, rows, scrollback: 0, allowProposedApi: true });
  }

  write(data: Uint8Array | string): Promise<void> {
    return new Promise((resolve) => this.term.write(data, resolve));
  }

  lines(): string[] {
    const buf = this.term.buffer.active;
    const out: string[] = [];
    for (let i = 0; i < this.term.rows; i++) out.push(buf.getLine(buf.viewportY + i)?.translateToString(true) ?? "");
    return out;
  }

  text(): string {
    return this.lines().join("\n");
  }

  /** The bytes for an arrow key in the cursor-key mode the program set (curses turns on application mode). */
  arrow(key: ArrowKey): string {
    return this.term.modes.applicationCursorKeysMode ? keys[key].replace("\x1b[", "\x1bO") : keys[key];
  }
}

/** Keys as a terminal sends them; arrows depend on the cursor-key mode the program set (as xterm.js does). */
export const keys = {
  up: "\x1b[A",
  down: "\x1b[B",
  right: "\x1b[C",
  left: "\x1b[D",
  enter: "\r",
  space: " ",
  esc: "\x1b",
  tab: "\t",
};

export type ArrowKey = "up" | "down" | "right" | "left";

export class TerminalClient {
  readonly screen: TerminalScreen;
  readonly messages: ServerMessage[] = [];
  /** Close code and reason once closed. */
  closed: { code: number; reason: string } | undefined;
  /** Output bytes received (all of them, binary frames only). */
  bytesReceived = 0;
  private readonly conn: TerminalConnection;
  private writes: Promise<void> = Promise.resolve();
  private waiters = new Set<() => void>();
  private readonly opened: Promise<void>;

  constructor(
    readonly ws: WebSocket,
    cols: number,
    rows: number,
    private readonly opts: { autoAck: boolean },
  ) {
    this.screen = new TerminalScreen(cols, rows);
    this.conn = new TerminalConnection(wsSocket(ws), {
      output: (data) => {
        this.bytesReceived += data.length;
        this.writes = this.writes
          .then(() => this.screen.write(data))
          .then(() => {
            if (this.opts.autoAck) this.conn.ack(data.length);
            this.wake();
          });
      },
      message: (msg) => {
        this.messages.push(msg);
        this.wake();
      },
      closed: (code, reason) => {
        this.closed = { code, reason };
        this.wake();
      },
    });
    this.opened = new Promise((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("unexpected-response", (_req, res) => reject(new Error(`upgrade refused: HTTP ${res.statusCode}`)));
      ws.once("error", reject);
    });
  }

  /** Open a socket to `baseUrl + wsPath`; sends `init` unless told not to. */
  static async connect(
    baseUrl: string,
    wsPath: string,
    opts: { cols?: number; rows?: number; origin?: string; init?: boolean; autoAck?: boolean } = {},
  ): Promise<TerminalClient> {
    const cols = opts.cols ?? 100;
    const rows = opts.rows ?? 30;
    const ws = new WebSocket(socketUrl(wsPath, baseUrl), opts.origin ? { origin: opts.origin } : {});
    const c = new TerminalClient(ws, cols, rows, { autoAck: opts.autoAck ?? true });
    await c.opened;
    if (opts.init ?? true) c.conn.init({ cols, rows });
    return c;
  }

  /** Send a control message, well-formed or not (tests send bad ones too). */
  control(msg: Record<string, unknown>): void {
    this.conn.send(msg);
  }

  type(text: string): void {
    this.conn.input(text);
  }

  /** Press an arrow key `times` times, in the form the program asked for (curses turns on application cursor keys). */
  async arrow(key: ArrowKey, times = 1): Promise<void> {
    await this.writes;
    for (let i = 0; i < times; i++) this.type(this.screen.arrow(key));
  }

  resize(cols: number, rows: number): void {
    this.screen.term.resize(cols, rows);
    this.conn.resize({ cols, rows });
  }

  /** Wait until `check` holds (re-checked on every message and output), or fail after `timeoutMs` with the screen. */
  async until<T>(what: string, check: () => T | undefined | false, timeoutMs = 20_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      await this.writes;
      const v = check();
      if (v) return v;
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`timed out waiting for ${what}\nmessages: ${JSON.stringify(this.messages)}\nclosed: ${JSON.stringify(this.closed)}\nscreen:\n${this.screen.text()}`);
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 250));
        this.waiters.add(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  untilText(pattern: string | RegExp, timeoutMs?: number): Promise<string> {
    return this.until(`screen text ${String(pattern)}`, () => {
      const text = this.screen.text();
      return (typeof pattern === "string" ? text.includes(pattern) : pattern.test(text)) && text;
    }, timeoutMs);
  }

  /** The next message of `type` after the first `skip` ones of that type. */
  untilMessage<T extends ServerMessage["type"]>(type: T, skip = 0, timeoutMs?: number): Promise<Extract<ServerMessage, { type: T }>> {
    return this.until(`a '${type}' message`, () => this.messages.filter((m): m is Extract<ServerMessage, { type: T }> => m.type === type)[skip], timeoutMs);
  }

  untilClosed(timeoutMs?: number): Promise<{ code: number; reason: string }> {
    return this.until("the socket to close", () => this.closed, timeoutMs);
  }

  close(): void {
    this.conn.close();
  }

  private wake(): void {
    const ws = [...this.waiters];
    this.waiters.clear();
    for (const w of ws) w();
  }
}
