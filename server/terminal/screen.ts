import xtermHeadless from "@xterm/headless";
import serializeAddon from "@xterm/addon-serialize";

/** Output kept unparsed before it is folded into the headless terminal. */
const FOLD_BYTES = 256 * 1024;

/**
 * A headless copy of what the client's terminal shows, so a reconnecting client gets
 * the screen back exactly (serialized as escape sequences, alternate screen included)
 * without asking the program to redraw.
 *
 * Parsing every byte as it streams would cost the server's event loop on every
 * keystroke of every session, and most sessions never reconnect: output is kept as
 * bytes and parsed only when a snapshot or a resize needs it, or past FOLD_BYTES.
 */
export class ScreenMirror {
  private readonly term: InstanceType<typeof xtermHeadless.Terminal>;
  private readonly serializer: InstanceType<typeof serializeAddon.SerializeAddon>;
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(cols: number, rows: number) {
    this.term = new xtermHeadless.Terminal({ cols, rows, scrollback: 0, allowProposedApi: true });
    this.serializer = new serializeAddon.SerializeAddon();
    // The addon's types name the browser Terminal; the headless one has the same addon API.
    this.term.loadAddon(this.serializer as unknown as Parameters<typeof this.term.loadAddon>[0]);
  }

  write(data: Buffer): void {
    this.pending.push(data);
    this.pendingBytes += data.length;
    if (this.pendingBytes > FOLD_BYTES) this.fold();
  }

  /** Output so far is parsed at the old size, then the terminal takes the new one. */
  resize(cols: number, rows: number): void {
    this.fold();
    this.term.write("", () => this.term.resize(cols, rows));
  }

  /** The screen as bytes that redraw it on a blank terminal of the same size, once all output is parsed. */
  snapshot(): Promise<Buffer> {
    this.fold();
    return new Promise((resolve) => this.term.write("", () => resolve(Buffer.from(this.serializer.serialize({ scrollback: 0 }), "utf8"))));
  }

  /** The visible lines as text, once all output is parsed. */
  async lines(): Promise<string[]> {
    await this.snapshot();
    const buf = this.term.buffer.active;
    const out: string[] = [];
    for (let i = 0; i < this.term.rows; i++) out.push(buf.getLine(buf.viewportY + i)?.translateToString(true) ?? "");
    return out;
  }

  dispose(): void {
    this.pending = [];
    this.term.dispose();
  }

  private fold(): void {
    if (!this.pending.length) return;
    this.term.write(this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending));
    this.pending = [];
    this.pendingBytes = 0;
  }
}
