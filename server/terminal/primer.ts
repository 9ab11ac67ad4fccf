import os from "node:os";
import { log } from "../core/log";
import { counter, gauge } from "../core/metrics";
import { processTreeRssMB } from "./rss";
import type { Session } from "./session";

const primedGauge = gauge("kbs_sessions_primed", "primed menuconfig sessions ready to be handed over, by project", ["project"]);
const handovers = counter("kbs_sessions_primed_handovers_total", "menuconfig sessions that were handed a primed session");
const hits = counter("kbs_sessions_primed_hits_total", "session starts that could take a primed session and got one (ready, or launched earlier and waited for), by project", ["project"]);
const misses = counter("kbs_sessions_primed_misses_total", "session starts that could take a primed session and found none, by project", ["project"]);
const wantGauge = gauge("kbs_sessions_primed_wanted", "primed sessions each hot tree's recent demand asks for (within the memory budget), summed by project", ["project"]);

/** A session start on a tree: when, and whether it found no primed session ready (a miss, or it waited for a launching one). */
interface Arrival {
  at: number;
  short: boolean;
  /** It got no primed session at all and started a fresh one. */
  missed: boolean;
  /** Its fresh session is parsing the tree (until it drew): a core priming leaves it. */
  parsing: boolean;
}

/** One primed session of a tree: launching, or drawn and waiting to be handed over. */
interface Primed {
  session: Session | undefined;
  started: number;
  ready: boolean;
  /** A session start took it before it was ready: it gets it when it is. */
  claim: ((s: Session | undefined) => void) | undefined;
  idleTimer: NodeJS.Timeout | undefined;
}

/** A hot tree: what to launch for it, its primed sessions, and its demand. */
interface HotTree {
  project: string;
  /** Launch a primed session for the tree; `onReady` when it drew, `onEnd` when it ended. */
  prime(hooks: PrimeHooks): Promise<Session>;
  primes: Primed[];
  /** Launch to ready, measured (ms); the first guess until one was. */
  primeMs: number;
  /** Memory one primed session of this tree holds, measured (MB). */
  memoryMB: number;
  want: number;
  /** A primed session was launched for it (since it went hot). */
  launched: boolean;
  /** No launches before this (ms since the epoch): a hand-over's client has not seen it yet, or just did. */
  heldUntil: number;
  /** The next top-up: when (ms since the epoch), and its timer. */
  topUpAt: number | undefined;
  topUpTimer: NodeJS.Timeout | undefined;
}

export interface PrimeHooks {
  onReady(): void;
  onEnd(): void;
}

export interface PrimerOptions {
  /** Hot trees kept (least recently used dropped first); 0 disables priming. */
  trees: number;
  /** Memory all primed sessions may hold (MB); every hot tree keeps one within the tree limit. */
  memoryMB: number;
  /** A primed session nobody took for this long is ended, and its tree not primed again until used. */
  idleMs: number;
  /** Priming waits this long after a session start: the started session's first frame needs the CPU more. */
  delayMs: number;
}

/** The demand a tree's primed sessions follow: session starts in this window. */
const DEMAND_WINDOW_MS = 5 * 60_000;
/** Until a tree's first primed session drew: its launch time and memory, guessed. */
const FIRST_PRIME_MS = 2000;
const FIRST_MEMORY_MB = 50;
const EWMA = 0.3;
/** Kconfig parses at once (primed launches and the fresh parses of starts that found none): more only split the same cores. */
const PARSES = Math.max(1, os.availableParallelism());
/** A hand-over whose client has not seen it by then is replaced anyway. */
const UNSHOWN_MS = 5000;
/** While launches wait for a core, how often they look again (a parse that ends says so, but one may be given up on). */
const BLOCKED_RETRY_MS = 250;

/**
 * Keeps primed menuconfig sessions for the hot trees (every tree a session was started
 * for, most recent first, at most `trees`), so the next session for a tree is an
 * already-drawn frontend instead of a fresh Kconfig parse. How many per tree follows its
 * demand: the most session starts that came within one replacement time of each other in
 * the last minutes (each needs its own primed session), plus the starts on the hot tree
 * that found none ready, plus a spare (one for a tree with no starts in the window);
 * within the memory budget, measured per tree. A start that finds none ready takes one that is launching
 * (it has a head start on a fresh one). Launches never make more Kconfig parses run at
 * once than there are cores, counting the users' own fresh parses, so priming cannot
 * slow the sessions it is for. Priming runs in the background, only once started
 * (`kbs serve`).
 */
export class Primer {
  private readonly hot = new Map<string, HotTree>();
  /** Demand per tree key, also before the tree is hot (starts at once all look it up before the first marks it hot). */
  private readonly arrivals = new Map<string, Arrival[]>();
  private started = false;
  private closed = false;

  constructor(private readonly opts: PrimerOptions) {}

  /** Begin priming (kbs serve only). */
  start(): void {
    this.started = this.opts.trees > 0;
  }

  /**
   * A primed session for `key`, now the caller's: a ready one, else one that is launching
   * (resolved when it drew); undefined when there is none (a miss). Counts the start as demand.
   */
  async take(key: string, project: string): Promise<Session | undefined> {
    if (!this.started || this.closed) return undefined;
    const tree = this.hot.get(key);
    // A start before the tree was ever primed is no shortfall: nothing could have been ready.
    const arrival: Arrival = { at: Date.now(), short: !!tree?.launched, missed: false, parsing: false };
    this.arrivalsOf(key).push(arrival);
    const ready = tree?.primes.find((p) => p.ready && !p.claim && p.session?.active);
    if (tree && ready) {
      arrival.short = false;
      this.remove(tree, ready);
      hits.inc({ project });
      handovers.inc();
      return ready.session;
    }
    const launching = tree?.primes.find((p) => !p.ready && !p.claim);
    if (!tree || !launching) {
      arrival.missed = true;
      misses.inc({ project });
      return undefined;
    }
    // A launch that does not draw in twice its usual time is left to the primer; this start goes fresh.
    const session = await new Promise<Session | undefined>((resolve) => {
      const timer = setTimeout(() => {
        if (launching.claim !== settle) return;
        launching.claim = undefined;
        resolve(undefined);
      }, Math.max(5000, 2 * tree.primeMs));
      const settle = (s: Session | undefined) => {
        clearTimeout(timer);
        resolve(s);
      };
      launching.claim = settle;
    });
    if (!session?.active) {
      arrival.missed = true;
      misses.inc({ project });
      return undefined;
    }
    hits.inc({ project });
    handovers.inc();
    return session;
  }

  /**
   * A session was started for `key` (`drawn` when its frontend first drew, `shown` when its
   * client first saw it): the tree is hot (most recent), and is topped up to its demand.
   */
  used(key: string, project: string, prime: HotTree["prime"], session: Pick<Session, "drawn" | "shown">): void {
    if (!this.started || this.closed) return;
    const tree: HotTree = this.hot.get(key) ?? { project, prime, primes: [], primeMs: FIRST_PRIME_MS, memoryMB: FIRST_MEMORY_MB, want: 0, launched: false, heldUntil: 0, topUpAt: undefined, topUpTimer: undefined };
    this.hot.delete(key);
    this.hot.set(key, tree);
    for (const [k, t] of this.hot) {
      if (this.hot.size <= this.opts.trees) break;
      this.drop(k, t);
    }
    const last = this.arrivals.get(key)?.at(-1);
    // A hand-over: nothing launches until its client saw it and the delay passed, so the next
    // start of a burst (each comes as the previous one drew) falls within it, and the burst's
    // replacements launch together (side by side they draw together).
    if (!last?.missed) {
      tree.heldUntil = Date.now() + UNSHOWN_MS;
      this.schedule(key, tree, UNSHOWN_MS);
      return void session.shown.then(() => {
        tree.heldUntil = Date.now() + this.opts.delayMs;
        this.schedule(key, tree, this.opts.delayMs);
      });
    }
    // A fresh session parses the tree itself: it holds a core until it drew (freeCores). The
    // first start on a tree nobody primed (a cold one) is primed for once it drew, so its
    // parse had the cores; a start that outran the primed ones (a burst) is followed at
    // once, within the cores its own parse leaves, whatever hand-over held the tree: side by
    // side with its parse, the replacement draws about when it does, for the next start.
    last.parsing = true;
    void session.drawn.then(() => {
      last.parsing = false;
      this.coreFreed();
    });
    if (!last.short) return;
    tree.heldUntil = 0;
    this.schedule(key, tree, 0);
  }

  async close(): Promise<void> {
    this.closed = true;
    const sessions = [...this.hot.values()].flatMap((t) => t.primes.flatMap((p) => (p.session ? [p.session] : [])));
    for (const t of this.hot.values()) for (const p of [...t.primes]) this.remove(t, p);
    this.hot.clear();
    await Promise.all(sessions.map((s) => s.end("shutdown")));
  }

  private arrivalsOf(key: string): Arrival[] {
    let list = this.arrivals.get(key);
    if (!list) {
      list = [];
      this.arrivals.set(key, list);
    }
    const now = Date.now();
    while (list.length && now - list[0]!.at > DEMAND_WINDOW_MS) list.shift();
    return list;
  }

  /**
   * Primed sessions the tree's demand asks for: the most starts in the window that came
   * within one replacement time (the delay before priming, then a launch) of each other,
   * plus the starts that found none ready. Those came later than they would have had one
   * been ready (each waited for a fresh parse), so a burst served short looks slower than
   * it was; counting them, the next such burst finds enough ready. And one spare while the
   * tree has starts in the window: the start after a burst's last would otherwise wait a
   * whole launch (seconds on Linux), and replacements launched side by side draw together,
   * so a spare launched with the replacement serves the start after next at once. A tree
   * with no starts in the window keeps one.
   */
  private demand(key: string, tree: HotTree): number {
    const arrivals = this.arrivalsOf(key);
    if (!arrivals.length) return 1;
    const replaceMs = this.opts.delayMs + tree.primeMs;
    let most = 1;
    for (let i = 0, j = 0; j < arrivals.length; j++) {
      while (arrivals[j]!.at - arrivals[i]!.at > replaceMs) i++;
      most = Math.max(most, j - i + 1);
    }
    return most + arrivals.filter((a) => a.short).length + 1;
  }

  /** The demand, cut to what the memory budget leaves beside every other hot tree's primed sessions (one each at least). */
  private wanted(key: string, tree: HotTree): number {
    let others = 0;
    for (const [k, t] of this.hot) if (k !== key) others += Math.max(1, t.primes.length) * t.memoryMB;
    const room = Math.floor((this.opts.memoryMB - others) / tree.memoryMB);
    return Math.max(1, Math.min(this.demand(key, tree), room));
  }

  /** A top-up in `delayMs` (not before the tree's hold ends), unless one comes sooner. */
  private schedule(key: string, tree: HotTree, delayMs: number): void {
    const at = Math.max(Date.now() + delayMs, tree.heldUntil);
    if (tree.topUpAt !== undefined && tree.topUpAt <= at) return;
    clearTimeout(tree.topUpTimer);
    tree.topUpAt = at;
    tree.topUpTimer = setTimeout(() => {
      tree.topUpAt = undefined;
      this.topUp(key, tree);
    }, at - Date.now());
    tree.topUpTimer.unref();
  }

  /**
   * Launch primed sessions until the tree has what it wants (unclaimed ones count), as many
   * at once as there are cores no parse holds; the rest when one is free (a launch or a
   * fresh session drawing looks again at once), none while a hand-over holds the tree.
   */
  private topUp(key: string, tree: HotTree): void {
    if (this.closed || this.hot.get(key) !== tree) return;
    if (Date.now() < tree.heldUntil) return this.schedule(key, tree, 0);
    const want = this.wanted(key, tree);
    wantGauge.inc({ project: tree.project }, want - tree.want);
    tree.want = want;
    const missing = want - tree.primes.filter((p) => !p.claim).length;
    const free = this.freeCores();
    for (let n = Math.min(missing, free); n > 0; n--) void this.launch(key, tree);
    if (missing > free) this.schedule(key, tree, BLOCKED_RETRY_MS);
  }

  /** A parse ended: every hot tree looks again at once, the most recently used first. */
  private coreFreed(): void {
    for (const [k, t] of [...this.hot].reverse()) this.schedule(k, t, 0);
  }

  /**
   * Cores no Kconfig parse holds: every tree's launching primed sessions (claimed ones are a
   * user's parse) and the fresh parses of starts that found none, until they drew (at most
   * twice their tree's launch time: a session whose client never came does not parse),
   * against PARSES.
   */
  private freeCores(): number {
    const now = Date.now();
    let busy = 0;
    for (const t of this.hot.values()) busy += t.primes.filter((p) => !p.ready).length;
    for (const [k, list] of this.arrivals) {
      const launchMs = this.hot.get(k)?.primeMs ?? FIRST_PRIME_MS;
      busy += list.filter((a) => a.parsing && now - a.at < 2 * launchMs).length;
    }
    return PARSES - busy;
  }

  private async launch(key: string, tree: HotTree): Promise<void> {
    const p: Primed = { session: undefined, started: Date.now(), ready: false, claim: undefined, idleTimer: undefined };
    tree.primes.push(p);
    tree.launched = true;
    let readyEarly = false;
    const onReady = () => {
      if (!p.session) return void (readyEarly = true);
      if (p.ready || !tree.primes.includes(p)) return;
      p.ready = true;
      tree.primeMs = Math.round(tree.primeMs + EWMA * (Date.now() - p.started - tree.primeMs));
      const mb = processTreeRssMB(p.session.sandboxPid);
      if (mb !== undefined) tree.memoryMB = Math.max(1, tree.memoryMB + EWMA * (mb - tree.memoryMB));
      if (p.claim) {
        const claim = p.claim;
        this.remove(tree, p);
        claim(p.session);
      } else {
        primedGauge.inc({ project: tree.project });
        // Unused for the idle limit: end it; the tree goes cold when it has none left.
        p.idleTimer = setTimeout(() => this.idle(key, tree, p), this.opts.idleMs);
        p.idleTimer.unref();
      }
      // A core is free again.
      this.coreFreed();
    };
    try {
      p.session = await tree.prime({
        onReady: () => onReady(),
        onEnd: () => {
          if (!tree.primes.includes(p)) return;
          const claim = p.claim;
          this.remove(tree, p);
          claim?.(undefined);
        },
      });
    } catch (e) {
      log.warn({ err: e, project: tree.project }, "priming a menuconfig session failed; the tree is primed again at its next session");
      const claim = p.claim;
      this.remove(tree, p);
      claim?.(undefined);
      return;
    }
    if (this.closed || this.hot.get(key) !== tree || !tree.primes.includes(p)) {
      this.remove(tree, p);
      p.claim?.(undefined);
      return void p.session.end("shutdown");
    }
    if (readyEarly) onReady();
  }

  /** The primed session is no longer the tree's (taken, ended, or dropped). */
  private remove(tree: HotTree, p: Primed): void {
    const i = tree.primes.indexOf(p);
    if (i < 0) return;
    tree.primes.splice(i, 1);
    clearTimeout(p.idleTimer);
    if (p.ready && !p.claim) primedGauge.dec({ project: tree.project });
  }

  /** A primed session nobody took: it ends; a tree with none left goes cold until a session is started for it again. */
  private idle(key: string, tree: HotTree, p: Primed): void {
    this.remove(tree, p);
    void p.session?.end("idle");
    if (!tree.primes.length && this.hot.get(key) === tree) this.drop(key, tree);
  }

  /** The tree goes cold: its primed sessions are ended. */
  private drop(key: string, tree: HotTree): void {
    this.hot.delete(key);
    this.arrivals.delete(key);
    clearTimeout(tree.topUpTimer);
    wantGauge.dec({ project: tree.project }, tree.want);
    for (const p of [...tree.primes]) {
      const claim = p.claim;
      this.remove(tree, p);
      claim?.(undefined);
      void p.session?.end("idle");
    }
  }
}
