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
 * Whether a frontend's output has started curses: it switched to the alternate screen,
 * which both frontends do once they have parsed the tree (so the stub had set the pty
 * size: a resize now sticks).
 */
export class CursesStart {
  private seen = false;
  /** The last bytes of output, in case ALT_SCREEN is split between two chunks. */
  private tail = Buffer.alloc(0);

  get started(): boolean {
    return this.seen;
  }

  /** Whether curses has started, with `data` the output since the last call. */
  output(data: Buffer): boolean {
    if (this.seen) return true;
    const both = Buffer.concat([this.tail, data]);
    this.seen = both.includes(ALT_SCREEN);
    this.tail = both.subarray(Math.max(0, both.length - ALT_SCREEN.length + 1));
    return this.seen;
  }
}

/**
 * Whether a primed frontend is ready: curses started and its output went quiet.
 * The quiet timer is one of the primed state's own `timers`, so it ends with that state.
 */
export class PrimedReadiness {
  private readonly curses = new CursesStart();

  constructor(
    private readonly priming: Priming,
    private readonly timers: Timers,
  ) {}

  output(data: Buffer): void {
    if (this.curses.output(data)) this.timers.after("quiet", this.priming.quietMs, () => this.priming.onReady());
  }
}
