import { registry } from "../core/metrics";
import type { Kbs } from "../kbs";
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

/** The JSON API (DESIGN.md "HTTP API"); each part adds its routes in server/http/routes/. */
export function createApiRouter(kbs: Kbs): Router {
  const router = new Router({ dataDir: kbs.settings.dataDir });
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
  return router;
}
