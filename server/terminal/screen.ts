import xtermHeadless from "@xterm/headless";
import serializeAddon from "@xterm/addon-serialize";

/**
 * A headless copy of what the client's terminal shows: every byte of pty output is
 * fed to it, so a reconnecting client gets the screen back exactly (serialized as
 * escape sequences, alternate screen included) without asking the program to redraw.
 */
export class ScreenMirror {
  private readonly term: InstanceType<typeof xtermHeadless.Terminal>;
  private readonly serializer: InstanceType<typeof serializeAddon.SerializeAddon>;

  constructor(cols: number, rows: number) {
    this.term = new xtermHeadless.Terminal({ cols, rows, scrollback: 0, allowProposedApi: true });
    this.serializer = new serializeAddon.SerializeAddon();
    // The addon's types name the browser Terminal; the headless one has the same addon API.
    this.term.loadAddon(this.serializer as unknown as Parameters<typeof this.term.loadAddon>[0]);
  }

  write(data: Buffer): void {
    this.term.write(data);
  }

  resize(cols: number, rows: number): void {
    this.term.resize(cols, rows);
  }

  get size(): { cols: number; rows: number } {
    return { cols: this.term.cols, rows: this.term.rows };
  }

  /** The screen as bytes that redraw it on a blank terminal of the same size, once pending output is parsed. */
  snapshot(): Promise<Buffer> {
    return new Promise((resolve) => this.term.write("", () => resolve(Buffer.from(this.serializer.serialize({ scrollback: 0 }), "utf8"))));
  }

  /** The visible lines as text (for messages and tests). */
  lines(): string[] {
    const buf = this.term.buffer.active;
    const out: string[] = [];
    for (let i = 0; i < this.term.rows; i++) out.push(buf.getLine(buf.viewportY + i)?.translateToString(true) ?? "");
    return out;
  }

  dispose(): void {
    this.term.dispose();
  }
}
