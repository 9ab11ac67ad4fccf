import client from "prom-client";
import { counter, histogram, registry } from "../core/metrics";

export const buildsTotal = counter("kbs_builds_total", "Builds that ended, by final state", ["state"]);
export const buildDuration = histogram("kbs_build_duration_seconds", "Wall time of finished build attempts", ["recipe", "state"], [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200]);
export const cacheHits = counter("kbs_build_cache_hits_total", "Build requests answered from a finished identical build");

/** Read at scrape time from the store of this process's build service. */
let depth: () => number = () => 0;
export function reportQueueDepth(fn: () => number): void {
  depth = fn;
}
if (!registry.getSingleMetric("kbs_build_queue_depth")) {
  new client.Gauge({
    name: "kbs_build_queue_depth",
    help: "Builds waiting for a worker",
    registers: [registry],
    collect() {
      this.set(depth());
    },
  });
}
