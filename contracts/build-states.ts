// A build's states, without zod: the pages need them at run time, and a zod schema built in
// the browser probes `new Function`, which the page's CSP reports (e2e/csp.spec.ts).

export const buildStates = ["queued", "running", "succeeded", "failed", "timed_out", "cancelled"] as const;
export type BuildState = (typeof buildStates)[number];
export const finishedBuildStates: readonly BuildState[] = ["succeeded", "failed", "timed_out", "cancelled"];
