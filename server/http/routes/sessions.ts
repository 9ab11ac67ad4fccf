import { z } from "zod";
import type { Settings } from "../../core/settings";
import type { SessionManager } from "../../terminal/manager";
import type { CreatedSession, EndedSession, SessionDetails, SessionLeft } from "../../../contracts/api";
import { socketPath } from "../../../contracts/urls";
import { notFound } from "../errors";
import { readJson, Reply, type Router } from "../router";
import { clientAddress } from "../../core/client-address";

const PostSession = z.object({
  project: z.string().min(1).max(100),
  rev: z.string().min(1).max(300),
  configId: z.string().regex(/^[0-9a-f]{64}$/, "must be a config id (64 hex digits) from POST /api/configs").optional(),
  arch: z.string().min(1).max(40).optional(),
});

const isoTime = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());

export function registerSessionRoutes(router: Router, kbs: { settings: Pick<Settings, "trustedProxies">; sessions: SessionManager }): void {
  router.post("/api/sessions", async ({ req }) => {
    const body = await readJson(req, PostSession, 16 * 1024);
    const created = await kbs.sessions.create({ ...body, clientAddress: clientAddress(req, kbs.settings.trustedProxies) });
    return new Reply(201, created satisfies CreatedSession);
  });

  router.get("/api/sessions/:id", ({ params }): SessionDetails => {
    const rec = kbs.sessions.record(params.id!);
    if (!rec) throw notFound("unknown_session", "No such session: it may have been mistyped. Start a new session from the project's page.");
    const live = kbs.sessions.get(rec.id);
    // "ending" while a session of this process stores its last config; "ended" once that is recorded,
    // or when no process runs it (a restart ended it).
    const state = live?.active ? "active" : live ? "ending" : "ended";
    return { ...rec, state, wsPath: socketPath.session(rec.id), sandbox: live?.active ? live.sandboxId : null, frontend: live?.active ? live.frontendSource : null, primed: live?.active ? live.primed : null, lingersUntil: isoTime(live?.lingersUntil) };
  });

  // Ends the session now, storing its latest config first.
  router.delete("/api/sessions/:id", async ({ params }): Promise<EndedSession> => {
    const rec = await kbs.sessions.end(params.id!);
    return { ...rec, state: "ended" };
  });

  // The portal's pagehide beacon (navigator.sendBeacon can only POST): the page is going
  // away, so a dropped socket waits a few seconds for a reload instead of the grace period.
  router.post("/api/sessions/:id/leave", async ({ params, req }) => {
    await readJson(req, z.object({}).passthrough().nullable(), 1024);
    kbs.sessions.pageLeft(params.id!);
    return new Reply(202, { id: params.id! } satisfies SessionLeft);
  });

  router.get("/api/sessions/:id/config", ({ params, res }) => {
    const text = kbs.sessions.savedConfig(params.id!);
    res.writeHead(200, { "Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store", "Content-Disposition": 'inline; filename=".config"' });
    res.end(text);
  });
}
