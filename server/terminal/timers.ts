/**
 * Named timers that end together. A session's timers belong to what started them (one
 * state, the span its limits run, its config watcher): clearing the set when that ends
 * means no timer of a state outlives it.
 */
export class Timers {
  private readonly timeouts = new Map<string, NodeJS.Timeout>();
  private readonly intervals = new Map<string, NodeJS.Timeout>();

  /** Run `fn` once after `ms`; a pending timer of the same name is replaced. */
  after(name: string, ms: number, fn: () => void): void {
    this.cancel(name);
    this.timeouts.set(
      name,
      setTimeout(() => {
        this.timeouts.delete(name);
        fn();
      }, ms),
    );
  }

  /** Run `fn` every `ms` until cancelled; nothing when one of that name runs already. */
  every(name: string, ms: number, fn: () => void): void {
    if (!this.intervals.has(name)) this.intervals.set(name, setInterval(fn, ms));
  }

  has(name: string): boolean {
    return this.timeouts.has(name) || this.intervals.has(name);
  }

  cancel(name: string): void {
    clearTimeout(this.timeouts.get(name));
    this.timeouts.delete(name);
    clearInterval(this.intervals.get(name));
    this.intervals.delete(name);
  }

  clear(): void {
    for (const t of this.timeouts.values()) clearTimeout(t);
    for (const t of this.intervals.values()) clearInterval(t);
    this.timeouts.clear();
    this.intervals.clear();
  }
}
