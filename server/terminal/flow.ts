/**
 * Output flow control for one terminal: the pty is paused while the client is
 * behind and resumed once it catches up, so a fast producer can never fill the
 * server's memory or the socket's buffer.
 *
 * Two signals, each with a high and a low watermark (hysteresis, so it does not
 * flap): bytes sent but not yet acknowledged by the client (`ack{bytes}` reports the
 * bytes processed since its previous ack), and the socket's own send buffer
 * (`ws.bufferedAmount`). Ack accounting starts with the client's first ack, so a
 * client that never acks is held back by the send buffer alone.
 */
export interface FlowOptions {
  high: number;
  low: number;
  pause(): void;
  resume(): void;
}

export const DEFAULT_HIGH_WATERMARK = 256 * 1024;
export const DEFAULT_LOW_WATERMARK = 64 * 1024;

export class FlowControl {
  private unacked = 0;
  private acking = false;
  private buffered = 0;
  private paused = false;

  constructor(private readonly opts: FlowOptions) {}

  get isPaused(): boolean {
    return this.paused;
  }

  get unackedBytes(): number {
    return this.acking ? this.unacked : 0;
  }

  /** Output of `n` bytes went to the client; `buffered` is the socket's bufferedAmount after it. */
  sent(n: number, buffered: number): void {
    this.unacked += n;
    this.buffered = buffered;
    this.update();
  }

  acked(n: number): void {
    this.acking = true;
    this.unacked = Math.max(0, this.unacked - n);
    this.update();
  }

  /** The socket's send buffer drained (or grew) without new output. */
  bufferedNow(buffered: number): void {
    this.buffered = buffered;
    this.update();
  }

  /** A new client starts with a clean slate (its predecessor's unacked bytes are gone). */
  reset(): void {
    this.unacked = 0;
    this.acking = false;
    this.buffered = 0;
    this.update();
  }

  private update(): void {
    const load = Math.max(this.unackedBytes, this.buffered);
    if (!this.paused && load > this.opts.high) {
      this.paused = true;
      this.opts.pause();
    } else if (this.paused && load < this.opts.low) {
      this.paused = false;
      this.opts.resume();
    }
  }
}
