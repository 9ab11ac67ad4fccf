import type { Kbs } from "../kbs";
import { BuildService } from "./service";
import { buildLogUpgrade } from "./ws";

/** Attach the build backend to the service graph: workers and janitor run only when serving. */
export function attachBuilds(kbs: Kbs): void {
  kbs.builds = new BuildService(kbs.settings, kbs.db, kbs);
  kbs.upgrades.push(buildLogUpgrade(kbs.builds));
  kbs.onStart(() => kbs.builds.start());
  kbs.onClose(() => kbs.builds.close());
}
