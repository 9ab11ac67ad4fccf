import { log } from "../log";
import { counter, gauge } from "../metrics";
import type { Session } from "./session";

const primedGauge = gauge("kbs_sessions_primed", "primed menuconfig sessions ready to be handed over, by project", ["project"]);
const handovers = counter("kbs_sessions_primed_handovers_total", "menuconfig sessions that were handed a primed session");

/** A hot tree: what to launch for it, and its primed session (starting or ready). */
interface HotTree {
  project: string;
  /** Launch a primed session for the tree; `onReady` when it drew, `onEnd` when it ended. */
  prime(hooks: PrimeHooks): Promise<Session>;
  session: Session | undefined;
  ready: boolean;
  /** A launch is under way (or scheduled). */
  busy: boolean;
  idleTimer: NodeJS.Timeout | undefined;
}

export interface PrimeHooks {
  onReady(): void;
  onEnd(): void;
}

export interface PrimerOptions {
  /** Hot trees kept (least recently used dropped first); 0 disables priming. */
  trees: number;
  /** A primed session nobody took for this long is ended, and its tree not primed again until used. */
  idleMs: number;
  /** Priming waits this long after a session start: the started session's first frame needs the CPU more. */
  delayMs: number;
}

/**
 * Keeps one primed menuconfig session per hot tree (every tree a session was started
 * for, most recent first, at most `trees`), so the next session for that tree is an
 * already-drawn frontend instead of a fresh Kconfig parse. Priming runs in the
 * background, only once started (`kbs serve`).
 */
export class Primer {
  private readonly hot = new Map<string, HotTree>();
  private started = false;
  private closed = false;

  constructor(private readonly opts: PrimerOptions) {}

  /** Begin priming (kbs serve only). */
  start(): void {
    this.started = this.opts.trees > 0;
  }

  /** The ready primed session for `key`, now the caller's (it is not primed again until `used`). */
  take(key: string): Session | undefined {
    const tree = this.hot.get(key);
    if (!tree?.ready || !tree.session?.active) return undefined;
    const session = tree.session;
    this.forget(tree);
    handovers.inc();
    return session;
  }

  /** A session was started for `key`: the tree is hot (most recent), and gets a primed session if it has none. */
  used(key: string, project: string, prime: HotTree["prime"]): void {
    if (!this.started || this.closed) return;
    const tree = this.hot.get(key) ?? { project, prime, session: undefined, ready: false, busy: false, idleTimer: undefined };
    this.hot.delete(key);
    this.hot.set(key, tree);
    for (const [k, t] of this.hot) {
      if (this.hot.size <= this.opts.trees) break;
      this.drop(k, t);
    }
    if (tree.session || tree.busy) return;
    tree.busy = true;
    setTimeout(() => void this.launch(key, tree), this.opts.delayMs).unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    const sessions = [...this.hot.values()].flatMap((t) => (t.session ? [t.session] : []));
    for (const t of this.hot.values()) this.forget(t);
    this.hot.clear();
    await Promise.all(sessions.map((s) => s.end("shutdown")));
  }

  private async launch(key: string, tree: HotTree): Promise<void> {
    if (this.closed || this.hot.get(key) !== tree) return void (tree.busy = false);
    let session: Session;
    try {
      session = await tree.prime({
        onReady: () => {
          if (tree.session !== session || tree.ready) return;
          tree.ready = true;
          primedGauge.inc({ project: tree.project });
          // Unused for the idle limit: end it and let the tree go cold until a session is started for it again.
          tree.idleTimer = setTimeout(() => this.drop(key, tree), this.opts.idleMs);
          tree.idleTimer.unref();
        },
        onEnd: () => {
          if (tree.session === session) this.forget(tree);
        },
      });
    } catch (e) {
      log.warn({ err: e, project: tree.project }, "priming a menuconfig session failed; the tree is primed again at its next session");
      tree.busy = false;
      return;
    }
    tree.busy = false;
    if (this.closed || this.hot.get(key) !== tree) return void session.end("shutdown");
    if (session.active) tree.session = session;
  }

  /** The tree no longer holds its session (taken, or it ended). */
  private forget(tree: HotTree): void {
    clearTimeout(tree.idleTimer);
    if (tree.ready) primedGauge.dec({ project: tree.project });
    tree.session = undefined;
    tree.ready = false;
  }

  /** The tree goes cold: its primed session (if any) is ended. */
  private drop(key: string, tree: HotTree): void {
    this.hot.delete(key);
    const session = tree.session;
    this.forget(tree);
    void session?.end("idle");
  }
}
