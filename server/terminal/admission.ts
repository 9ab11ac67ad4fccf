import { KbsError } from "../core/errors";
import { counter } from "../core/metrics";

const refused = counter("kbs_sessions_refused_total", "session requests refused by a limit", ["limit"]);

export interface AdmissionLimits {
  /** Sessions at most, running and starting. */
  max: number;
  /** Sessions one client address may have at most, running and starting. */
  perClient: number;
}

/** A creation under way: it counts against the limits until it is `started` or `cancelled`. */
export interface Admitted {
  /** The session runs under `id`: it counts for its address until `ended(id)`. */
  started(id: string): void;
  /** It failed before it ran. */
  cancelled(): void;
}

/**
 * The session limits: in all, and per client address. Creations under way count against
 * them from the moment they are admitted, so concurrent requests cannot overshoot. The
 * per-address refusal says how many of the address's sessions have no page connected
 * (they wait out the grace period) and when the first of them frees.
 */
export class Admission {
  /** Running sessions: id -> client address. */
  private readonly running = new Map<string, string>();
  /** Creations under way, per client address. */
  private readonly starting = new Map<string, number>();

  constructor(
    private readonly limits: AdmissionLimits,
    /** When a running session ends unless a client connects (ms since the epoch), if it is waiting for one. */
    private readonly lingersUntil: (id: string) => number | undefined,
  ) {}

  /** Count a creation for `address`, or throw the limit it would pass (unavailable: all; busy: the address's). */
  admit(address: string): Admitted {
    const startingTotal = [...this.starting.values()].reduce((a, b) => a + b, 0);
    if (this.running.size + startingTotal >= this.limits.max) {
      refused.inc({ limit: "total" });
      throw new KbsError("unavailable", "too_many_sessions", `The server is at its limit of ${this.limits.max} menuconfig sessions. Try again in a few minutes.`, { retryAfterSec: 60 });
    }
    const mineIds = [...this.running].filter(([, a]) => a === address).map(([id]) => id);
    const mine = mineIds.length + (this.starting.get(address) ?? 0);
    if (mine >= this.limits.perClient) {
      refused.inc({ limit: "per_client" });
      throw this.perClientRefusal(mine, mineIds);
    }
    this.starting.set(address, (this.starting.get(address) ?? 0) + 1);
    let settled = false;
    const settle = () => {
      if (settled) return false;
      settled = true;
      const n = (this.starting.get(address) ?? 1) - 1;
      if (n > 0) this.starting.set(address, n);
      else this.starting.delete(address);
      return true;
    };
    return {
      started: (id) => {
        if (settle()) this.running.set(id, address);
      },
      cancelled: () => void settle(),
    };
  }

  ended(id: string): void {
    this.running.delete(id);
  }

  private perClientRefusal(mine: number, ids: string[]): KbsError {
    const limit = this.limits.perClient;
    const frees = ids.flatMap((id) => this.lingersUntil(id) ?? []).sort((a, b) => a - b);
    const head = `You already have ${mine} menuconfig sessions open (the limit is ${limit} per address).`;
    if (!frees.length) return new KbsError("busy", "too_many_sessions", `${head} Close one (its saved config is kept) and try again.`, { retryAfterSec: 30 });
    const secs = Math.max(1, Math.ceil((frees[0]! - Date.now()) / 1000));
    const lingering = frees.length === 1 ? "1 of them has" : `${frees.length} of them have`;
    return new KbsError(
      "busy",
      "too_many_sessions",
      `${head} ${lingering} no page connected and waits for a reconnect; the first ends in ${secs} s. Try again then, or close a session you still have open (its saved config is kept).`,
      { retryAfterSec: secs },
    );
  }
}
