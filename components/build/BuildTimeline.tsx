import type { BuildState } from "../../contracts/build-states";
import { formatDuration } from "../ui/format";

export interface BuildStep {
  name: string;
  detail: string;
  state: "done" | "running" | "failed";
  /** Known for every step but a running one: from the log's step times and the build's total. */
  durationMs?: number;
}

// The build script announces each step as `==> [kbs] NAME: what it does (at 1.2 s)` (server/builds/script.ts).
const marker = /^==> \[kbs\] ([^:\n]+): (.*?)(?: \(at (\d+(?:\.\d+)?) s\))?$/gm;

/**
 * Steps in the order the log announced them; the last one is running or where it failed.
 * A step lasts until the next one starts; the last one until the build's end (`totalMs`).
 */
export function stepsFromLog(log: string, state: BuildState, failedStep?: string | null, totalMs?: number): BuildStep[] {
  const steps: Array<BuildStep & { at?: number }> = [];
  for (const m of log.matchAll(marker)) steps.push({ name: m[1]!, detail: m[2]!, state: "done", at: m[3] === undefined ? undefined : Number(m[3]) * 1000 });
  steps.forEach((s, i) => {
    const end = i + 1 < steps.length ? steps[i + 1]!.at : state === "running" ? undefined : totalMs;
    if (s.at !== undefined && end !== undefined && end >= s.at) s.durationMs = end - s.at;
  });
  const last = steps[steps.length - 1];
  if (last && state === "running") last.state = "running";
  if (state === "failed" || state === "timed_out" || state === "cancelled") {
    const failed = steps.find((s) => s.name === failedStep) ?? last;
    if (failed) {
      failed.state = "failed";
      steps.splice(steps.indexOf(failed) + 1);
    }
  }
  return steps;
}

/** A finished build's steps from its manifest's host-clock timings (queue, setup, sandbox, script steps, collect, store); details from the log. */
export function stepsFromTimings(timings: Array<{ step: string; ms: number }>, log: string): BuildStep[] {
  const details = new Map([...log.matchAll(marker)].map((m) => [m[1]!, m[2]!]));
  const hostSteps: Record<string, string> = {
    queue: "waiting for a worker",
    setup: "staging the config, refs, the commit's ready tree and toolchain versions",
    sandbox: "starting the sandbox",
    collect: "the outputs handed back, the sandbox torn down",
    store: "hashing and storing the outputs",
  };
  return timings.map((t) => ({ name: t.step, detail: details.get(t.step) ?? hostSteps[t.step] ?? t.step, state: "done", durationMs: t.ms }));
}

const color = { done: "bg-emerald-500", running: "bg-sky-500 animate-pulse", failed: "bg-red-500" };

/** The steps as a row of segments, wider for longer steps, with names and durations. */
export function BuildTimeline({ steps }: { steps: BuildStep[] }) {
  if (steps.length === 0) return null;
  const total = steps.reduce((a, s) => a + (s.durationMs ?? 0), 0);
  // Every step stays visible: a share of the total, but never less than a small minimum.
  const grow = (s: BuildStep) => (total > 0 ? Math.max(s.durationMs ?? 0, total / 12) : 1);
  return (
    <ol aria-label="Build steps" className="flex flex-wrap gap-1.5">
      {steps.map((s, i) => (
        <li key={`${s.name}-${i}`} title={s.detail} data-step={s.name} data-step-state={s.state} className="flex min-w-20 flex-col gap-1" style={{ flexGrow: grow(s), flexBasis: 0 }}>
          <span className={`h-1.5 rounded ${color[s.state]}`} aria-hidden />
          <span className="flex justify-between gap-1 font-mono text-[11px] text-slate-400">
            <span className="truncate">
              {s.name}
              <span className="sr-only"> {s.state}</span>
            </span>
            {s.durationMs !== undefined && <span className="shrink-0 text-slate-500">{formatDuration(s.durationMs)}</span>}
          </span>
        </li>
      ))}
    </ol>
  );
}
