import fs from "node:fs";
import { z } from "zod";
import type { BuildService } from "../../builds/service";
import type { Settings } from "../../core/settings";
import type { Build, BuildSummary } from "../../../contracts/api";
import { apiPath } from "../../../contracts/urls";
import { Reply, readJson, readQuery, type Router } from "../router";
import { clientAddress } from "../../core/client-address";

const BuildRequestSchema = z.object({
  project: z.string().min(1).max(100),
  rev: z.string().min(1).max(200),
  configId: z.string().regex(/^[0-9a-f]{8,64}$/, "configId must be the hex id POST /api/configs returned"),
});

const contentType = (name: string) =>
  name.endsWith(".json") ? "application/json" : name.endsWith(".sh") ? "text/x-shellscript; charset=utf-8" : "application/octet-stream";

/** DESIGN.md "HTTP API" for builds, plus cancel, pin and verify. */
export function registerBuildRoutes(router: Router, kbs: { settings: Pick<Settings, "trustedProxies">; builds: BuildService }): void {
  const builds = kbs.builds;

  router.post("/api/builds", async ({ req }) => {
    const body = await readJson(req, BuildRequestSchema, 16 * 1024);
    const { build, outcome } = await builds.request({ ...body, client: clientAddress(req, kbs.settings.trustedProxies) });
    return new Reply(outcome === "created" ? 201 : 200, build satisfies Build, { Location: apiPath.build(build.id) });
  });

  // The latest builds of a config, with their verify results (the shared config page's badges).
  router.get("/api/builds", ({ url }): BuildSummary[] => {
    const { config } = readQuery(url, z.object({ config: z.string().regex(/^[0-9a-f]{8,64}$/, "config must be a config id") }));
    return builds.store.byConfig(config, 10).map((b) => ({ id: b.id, state: b.state, describe: b.describe, reproducible: b.verification?.reproducible ?? null, verification: b.verification, finishedAt: b.finishedAt }));
  });

  router.get("/api/builds/:id", ({ params }): Build => builds.view(builds.require(params.id!)));

  router.post("/api/builds/:id/cancel", ({ params }): Build => builds.view(builds.cancel(params.id!)));
  router.delete("/api/builds/:id", ({ params }): Build => builds.view(builds.cancel(params.id!)));
  // A share link keeps its build: the page behind it pins the build it shows.
  router.post("/api/builds/:id/pin", ({ params }): Build => builds.view(builds.pin(params.id!)));
  // Rebuild and compare: 202 with the build (its `verification` running), joined when one runs already.
  router.post("/api/builds/:id/verify", ({ params }) => {
    const { build, started } = builds.verify(params.id!);
    return new Reply(started ? 202 : 200, builds.view(build) satisfies Build);
  });
  router.get("/api/builds/:id/verify/log", async ({ res, params }) => {
    const b = builds.require(params.id!);
    res.writeHead(200, { "Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff" });
    for await (const chunk of builds.logs.follow(`${b.id}-verify`, () => true)) res.write(chunk);
    res.end();
  });

  /** The log as text; while the build runs the response stays open and follows it (`?follow=0`: what there is now). */
  router.get("/api/builds/:id/log", async ({ req, res, params, url }) => {
    const b = builds.require(params.id!);
    const { follow } = readQuery(url, z.object({ follow: z.enum(["0", "1"]).default("1") }));
    res.writeHead(200, { "Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff" });
    if (req.method === "HEAD") return void res.end();
    const ac = new AbortController();
    res.on("close", () => ac.abort());
    const done = follow === "0" ? () => true : undefined;
    const chunks = done ? builds.logs.follow(b.id, done, ac.signal) : builds.followLog(b.id, ac.signal);
    for await (const chunk of chunks) {
      if (!res.write(chunk)) await new Promise((r) => res.once("drain", r));
    }
    res.end();
  });

  router.get("/api/builds/:id/artifacts/:name", ({ req, res, params, url }) => {
    const a = builds.artifact(builds.require(params.id!), params.name!);
    // `?as=firmware.bin`: saved under the name the board expects (flash guidance links).
    const { as } = readQuery(url, z.object({ as: z.string().regex(/^[A-Za-z0-9_.+-]{1,100}$/, "as must be a plain file name").optional() }));
    res.writeHead(200, {
      "Content-Type": contentType(params.name!),
      "Content-Length": String(a.size),
      "Content-Disposition": `attachment; filename="${as ?? a.downloadName}"`,
      ETag: `"${a.sha256}"`,
      "Cache-Control": "public, max-age=31536000, immutable",
    });
    if (req.method === "HEAD") return void res.end();
    fs.createReadStream(a.file).pipe(res);
  });
}
