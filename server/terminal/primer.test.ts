import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

// Two cores, whatever the machine running the test has: the budget under test is per core.
vi.mock("node:os", async (importOriginal) => {
  const os = await importOriginal<typeof import("node:os")>();
  return { ...os, default: { ...os, availableParallelism: () => 2 } };
});

const { Primer } = await import("./primer");
type PrimeHooks = import("./primer").PrimeHooks;
type Session = import("./session").Session;

/**
 * The Primer driven by hand: its launches and the users' fresh sessions are fakes that
 * draw when the test says (no sandbox, no Kconfig), on a fake clock. What is checked is
 * when it launches and how many: the core budget (a user's fresh parse counts until it
 * drew), the cold start's wait, the spare, a burst's replacements launched together.
 */

const DELAY_MS = 300;
/** The Primer's guess for a tree's launch time until one was measured. */
const FIRST_PRIME_MS = 2000;

interface Launch {
  hooks: PrimeHooks;
  session: Session;
  /** The fake frontend drew: the primed session is ready. */
  draw(): void;
}

function fakeTree() {
  const launches: Launch[] = [];
  const prime = (hooks: PrimeHooks): Promise<Session> => {
    // A pid that is not running: its memory is not measured (the first guess stays).
    const session = { active: true, sandboxPid: -1, end: () => Promise.resolve() } as unknown as Session;
    launches.push({ hooks, session, draw: () => hooks.onReady() });
    return Promise.resolve(session);
  };
  return { launches, prime };
}

const tick = (ms: number) => vi.advanceTimersByTimeAsync(ms);

describe("Primer", () => {
  let primer: InstanceType<typeof Primer>;
  beforeEach(() => {
    vi.useFakeTimers();
    primer = new Primer({ trees: 8, memoryMB: 1024, idleMs: 600_000, delayMs: DELAY_MS });
    primer.start();
  });
  afterEach(async () => {
    await primer.close();
    vi.useRealTimers();
  });

  /** A tree after its first (cold) start, with the one and the spare that follow it drawn, each in the first guess's launch time. */
  async function primedTree(): Promise<ReturnType<typeof fakeTree>> {
    const tree = fakeTree();
    const cold = await start("k", tree);
    await tick(FIRST_PRIME_MS);
    cold.draw();
    await tick(0);
    await tick(FIRST_PRIME_MS);
    for (const l of tree.launches) l.draw();
    await tick(0);
    expect(tree.launches).toHaveLength(2);
    return tree;
  }

  /**
   * A session start on the tree as the manager makes it: take, then used; `draw` draws a
   * fresh session's first frame, `show` shows a hand-over to its client (at once unless `shown: false`).
   */
  async function start(key: string, tree: ReturnType<typeof fakeTree>, o: { shown?: boolean } = {}): Promise<{ got: Session | undefined; draw(): void; show(): void }> {
    const got = await primer.take(key, "p");
    let draw = () => {};
    let show = () => {};
    const drawn = got ? Promise.resolve() : new Promise<void>((resolve) => (draw = resolve));
    const shown = got && o.shown !== false ? Promise.resolve() : new Promise<void>((resolve) => (show = resolve));
    primer.used(key, "p", tree.prime, { drawn, shown: got ? shown : drawn });
    return { got, draw, show };
  }

  it("after the first start on a cold tree, priming waits until that start's own session drew; then it primes one and a spare", async () => {
    const tree = fakeTree();
    const cold = await start("k", tree);
    expect(cold.got).toBeUndefined();
    await tick(30_000);
    expect(tree.launches).toHaveLength(0);
    cold.draw();
    await tick(0);
    expect(tree.launches).toHaveLength(2);
  });

  it("a start that outran the primed sessions is parsing on one core: the replacements take only the other, the rest launch once it should be done", async () => {
    const tree = await primedTree();
    const launched = tree.launches.length;
    // A burst: the two ready ones are handed over, the third finds none (not even launching) and parses fresh.
    expect((await start("k", tree)).got).toBeDefined();
    expect((await start("k", tree)).got).toBeDefined();
    const fresh = await start("k", tree);
    expect(fresh.got).toBeUndefined();
    // At once, whatever the hand-overs before it held: side by side with its parse.
    await tick(0);
    expect(tree.launches.length - launched).toBe(1);
    await tick(DELAY_MS);
    expect(tree.launches.length - launched).toBe(1);
    // Once it drew, both cores are there for priming.
    await tick(FIRST_PRIME_MS / 2);
    expect(tree.launches.length - launched).toBe(1);
    fresh.draw();
    await tick(0);
    expect(tree.launches.length - launched).toBe(2);
    // Never more than two parses at once: the next launch waits for one to draw.
    await tick(10_000);
    expect(tree.launches.length - launched).toBe(2);
    tree.launches.at(-1)!.draw();
    await tick(0);
    expect(tree.launches.length - launched).toBe(3);
  });

  it("the starts of a burst served by primed sessions are replaced together, the priming delay after the last was shown", async () => {
    const tree = await primedTree();
    const launched = tree.launches.length;
    expect((await start("k", tree)).got).toBeDefined();
    await tick(DELAY_MS / 2);
    expect((await start("k", tree)).got).toBeDefined();
    await tick(DELAY_MS - 1);
    expect(tree.launches.length - launched).toBe(0);
    await tick(1);
    expect(tree.launches.length - launched).toBe(2);
  });

  it("a hand-over is replaced once its client saw it and the priming delay passed, so the start its client makes next is replaced with it", async () => {
    const tree = await primedTree();
    const launched = tree.launches.length;
    const first = await start("k", tree, { shown: false });
    await tick(2000);
    expect(tree.launches.length - launched).toBe(0);
    first.show();
    await tick(DELAY_MS / 2);
    expect((await start("k", tree)).got).toBeDefined();
    await tick(DELAY_MS);
    expect(tree.launches.length - launched).toBe(2);
  });

  it("a start while the replacements launch waits for one of them, and gets it when it draws", async () => {
    const tree = await primedTree();
    await start("k", tree);
    await start("k", tree);
    await tick(DELAY_MS);
    const launching = tree.launches.at(-2)!;
    let got: Session | undefined;
    const taking = primer.take("k", "p").then((s) => (got = s));
    await tick(100);
    expect(got).toBeUndefined();
    launching.draw();
    await taking;
    expect(got).toBe(launching.session);
  });
});
