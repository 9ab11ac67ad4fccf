import type { BuildState } from "../api/types";

export interface BuildStep {
  name: string;
  detail: string;
  state: "done" | "running" | "failed";
}

// The build script announces each step as `==> [kbs] NAME: what it does` (server/builds/script.ts).
const marker = /^==> \[kbs\] ([^:\n]+): (.*)$/gm;

/** Steps in the order the log announced them; the last one is running or where it failed. */
export function stepsFromLog(log: string, state: BuildState, failedStep?: string | null): BuildStep[] {
  const steps: BuildStep[] = [];
  for (const m of log.matchAll(marker)) steps.push({ name: m[1]!, detail: m[2]!, state: "done" });
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

const color = { done: "bg-emerald-500", running: "bg-sky-500 animate-pulse", failed: "bg-red-500" };

/** The steps as a row of segments with their names. */
export function BuildTimeline({ steps }: { steps: BuildStep[] }) {
  if (steps.length === 0) return null;
  return (
    <ol aria-label="Build steps" className="flex flex-wrap gap-1.5">
      {steps.map((s, i) => (
        <li key={`${s.name}-${i}`} title={s.detail} data-step={s.name} data-step-state={s.state} className="flex min-w-24 flex-1 flex-col gap-1">
          <span className={`h-1.5 rounded ${color[s.state]}`} aria-hidden />
          <span className="truncate font-mono text-[11px] text-slate-400">
            {s.name}
            <span className="sr-only"> {s.state}</span>
          </span>
        </li>
      ))}
    </ol>
  );
}
