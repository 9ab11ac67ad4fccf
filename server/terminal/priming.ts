import type { Timers } from "./timers";

/**
 * Priming: a session launched before anyone asks for it, so the next start on its tree
 * is an already drawn frontend instead of a fresh Kconfig parse. It launches at
 * PRIME_SIZE with no client, no id and no limits running; it is ready once curses drew
 * and went quiet; the request that gets it (`Session.handOver`) attaches like a
 * reconnecting client, so the frontend redraws at the client's own size (SIGWINCH) after
 * the snapshot. Which trees are primed, and how many, is the Primer's (primer.ts).
 */

/** Primed sessions launch at this size; the client's own follows at hand-over (the frontend redraws). */
export const PRIME_SIZE = { cols: 120, rows: 40 };
/** A primed frontend is ready once its output has been quiet this long after it drew. */
export const PRIME_QUIET_MS = 50;

/** A session launched ahead of need: at this size, with no client, until `handOver`. */
export interface Priming {
  cols: number;
  rows: number;
  /** Called once the frontend has started curses and its output has been quiet for `quietMs`. */
  onReady(): void;
  quietMs: number;
}

/** curses switching to the alternate screen (smcup of xterm-256color, the sandbox's TERM). */
const ALT_SCREEN = Buffer.from("\x1b[?1049h");

/**
 * Whether a primed frontend is ready: it switched to the alternate screen (curses started,
 * so the stub had set the pty size: a resize now sticks) and its output went quiet.
 * The quiet timer is one of the primed state's own `timers`, so it ends with that state.
 */
export class PrimedReadiness {
  private cursesSeen = false;
  /** The last bytes of output, in case ALT_SCREEN is split between two chunks. */
  private tail = Buffer.alloc(0);

  constructor(
    private readonly priming: Priming,
    private readonly timers: Timers,
  ) {}

  output(data: Buffer): void {
    if (!this.cursesSeen) {
      const seen = Buffer.concat([this.tail, data]);
      this.cursesSeen = seen.includes(ALT_SCREEN);
      this.tail = seen.subarray(Math.max(0, seen.length - ALT_SCREEN.length + 1));
      if (!this.cursesSeen) return;
    }
    this.timers.after("quiet", this.priming.quietMs, () => this.priming.onReady());
  }
}
