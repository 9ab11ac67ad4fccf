/**
 * Per-step timings of one build, on the host's clock: the queue wait (request to pickup),
 * the host's own work (`setup`: staging inputs, refs, the ready tree, toolchain versions; `sandbox`:
 * start to the script's first step), each step build.sh announces (`==> [kbs] NAME: ...`, seen
 * as the output streams by), `collect` (the outputs handed back, the sandbox torn down), and
 * hashing and storing the outputs. The build page's
 * timeline shows them (manifest `timings`); `kbs bench` reads them to say where time goes.
 */
export interface StepTiming {
  step: string;
  ms: number;
}

const MARKER = /^==> \[kbs\] ([^:\n]+):/;

export class StepClock {
  private marks: Array<{ step: string; at: number }> = [];
  private partial = "";
  /** The last step build.sh announced ("done" included): known even when the sandbox is killed before it hands anything back. */
  current: string | undefined;

  constructor(queuedAt: number, startedAt: number) {
    this.marks.push({ step: "queue", at: queuedAt }, { step: "setup", at: startedAt });
  }

  /** A host-side step starts now. */
  mark(step: string, at = Date.now()): void {
    this.marks.push({ step, at });
  }

  /** Build output as it streams: each step marker starts a step at the time it arrives. */
  feed(chunk: Buffer | string): void {
    const text = this.partial + chunk.toString();
    const lines = text.split("\n");
    this.partial = lines.pop() ?? "";
    if (this.partial.length > 4096) this.partial = "";
    const now = Date.now();
    for (const line of lines) {
      const m = MARKER.exec(line);
      if (!m) continue;
      this.current = m[1];
      // After "done" the sandbox hands its outputs back (the tar of /kbs/out) and is torn down.
      this.mark(m[1] === "done" ? "collect" : m[1]!, now);
    }
  }

  /** Each step's duration, up to `end` for the last one. */
  timings(end = Date.now()): StepTiming[] {
    return this.marks.map((m, i) => ({ step: m.step, ms: Math.max(0, (this.marks[i + 1]?.at ?? end) - m.at) }));
  }
}
