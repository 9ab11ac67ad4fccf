import { registry } from "../core/metrics";
import type { Kbs } from "../kbs";
import { HostAllowList } from "./edge";
import { Router } from "./router";
import { registerProjectRoutes } from "./routes/projects";
import { registerConfigRoutes } from "./routes/configs";
import { registerSessionRoutes } from "./routes/sessions";
import { registerBuildRoutes } from "./routes/builds";
import { registerKernelRoutes } from "./routes/kernel";
import { registerPresetRoutes } from "./routes/presets";
import { registerUpgradeRoutes } from "./routes/upgrade";
import { registerPrinterRoutes } from "./routes/printers";
import { registerSymbolRoutes } from "./routes/symbols";
import { registerWorkerRoutes } from "./routes/workers";
import { registerGitRoutes } from "./routes/git";
import { buildLogUpgrade } from "./ws/build-logs";
import type { UpgradeRoute } from "./ws/route";
import { sessionUpgradeRoute } from "./ws/sessions";

/** What `kbs serve` answers with: the JSON API, the WebSocket upgrade routes and the names it answers to. */
export interface HttpApi {
  router: Router;
  upgrades: UpgradeRoute[];
  /** The names the server answers to and the origins that may drive it (server/http/edge.ts). */
  hosts: HostAllowList;
  /** Drop the sockets still open (after the sessions ended, so they said goodbye first). */
  close(): void;
}

/** The HTTP side of kbs over its parts: each route file gets the parts its routes use. */
export function createHttpApi(kbs: Kbs): HttpApi {
  const { settings } = kbs;
  const hosts = new HostAllowList(settings);
  const sessionSockets = sessionUpgradeRoute(kbs.sessions, (origin) => hosts.allowsOrigin(origin));
  return {
    router: createApiRouter(kbs),
    upgrades: [sessionSockets.route, buildLogUpgrade(kbs.builds)],
    hosts,
    close: () => sessionSockets.close(),
  };
}

/** The JSON API (DESIGN.md "HTTP API"); each part's routes are in server/http/routes/. */
export function createApiRouter(kbs: Kbs): Router {
  const { settings } = kbs;
  const router = new Router({ dataDir: settings.dataDir });
  router.get("/healthz", ({ res }) => {
    res.writeHead(200, { "Content-Type": "text/plain" });
    res.end("ok\n");
  });
  router.get("/metrics", async ({ res }) => {
    const text = await registry.metrics();
    res.writeHead(200, { "Content-Type": registry.contentType });
    res.end(text);
  });
  registerProjectRoutes(router, kbs);
  registerConfigRoutes(router, kbs);
  registerSessionRoutes(router, kbs);
  registerBuildRoutes(router, kbs);
  registerKernelRoutes(router, kbs);
  registerPresetRoutes(router, kbs);
  registerUpgradeRoutes(router, kbs);
  registerPrinterRoutes(router, kbs);
  registerSymbolRoutes(router, kbs);
  registerWorkerRoutes(router, kbs);
  registerGitRoutes(router, kbs);
  return router;
}
