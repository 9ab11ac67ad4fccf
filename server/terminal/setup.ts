import { KconfigTools } from "../configs/kconfig-tools";
import { DEFAULT_PREFIX } from "../configs/parse";
import { ConfigStore } from "../configs/store";
import type { Kbs } from "../kbs";
import { SessionManager } from "./manager";
import { prebuildTreeTools } from "./prebuild";
import { sessionUpgradeRoute } from "./ws";

/** Attach the config store, the Kconfig tools and menuconfig sessions (with their WebSocket route) to kbs. */
export function attachTerminal(kbs: Kbs): void {
  kbs.configs = new ConfigStore(kbs.db, kbs.revdb, (project) => kbs.projects.get(project)?.recipe.symbolPrefix ?? DEFAULT_PREFIX);
  kbs.kconfig = new KconfigTools(kbs);
  kbs.sessions = new SessionManager(kbs);
  // So that no user pays for compiling a tree's mconf: built as a sync's last phase.
  kbs.sync.onSynced((id, progress) => prebuildTreeTools(kbs, id, progress));
  const ws = sessionUpgradeRoute(kbs.sessions, (origin) => kbs.hosts.allowsOrigin(origin));

  kbs.upgrades.push(ws.route);
  kbs.onStart(() => kbs.sessions.startPriming());
  kbs.onClose(async () => {
    await kbs.sessions.close();
    ws.close();
  });
}
