import http from "node:http";
import type net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { setInternalUrl } from "../contracts/internal-url";
import { createKbs, type Kbs } from "./kbs";
import { createHttpApi } from "./http/api";
import { apiWriteProblem, ConnectionCap, decodePath, misdirected, pagePolicy, refuseSocket, setApiHeaders, setCommonHeaders } from "./http/edge";
import type { HttpError } from "./http/errors";
import { sendJson } from "./http/router";
import { httpRequests } from "./core/metrics";
import { log } from "./core/log";
import { killAllGroups } from "./core/proc";
import type { Settings } from "./core/settings";

export interface RunningServer {
  kbs: Kbs;
  server: http.Server;
  url: string;
  close(): Promise<void>;
}

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/**
 * The kbs process: the JSON API and /healthz, /metrics; WebSocket upgrades on the
 * paths of server/http/ws/ (anything else is destroyed); every other request goes
 * to the Next production build. `withNext: false` serves the API alone (API tests).
 */
export async function startServer(settings: Settings, opts: { withNext?: boolean } = {}): Promise<RunningServer> {
  const withNext = opts.withNext ?? true;
  const kbs = await createKbs(settings);
  const { router, upgrades, hosts, close: closeSockets } = createHttpApi(kbs);

  let nextHandler: ((req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>) | undefined;
  if (withNext) {
    const { default: next } = await import("next");
    const app = next({ dev: false, dir: root, hostname: settings.host, port: settings.port });
    await app.prepare();
    const handle = app.getRequestHandler();
    nextHandler = (req, res) => handle(req, res);
  }

  const cap = new ConnectionCap(settings.http.maxConnectionsPerClient);
  const refuse = (res: http.ServerResponse, e: HttpError) => {
    httpRequests.inc({ route: "edge", status: String(e.status) });
    sendJson(res, e.status, { error: { code: e.code, message: e.message } }, e.headers);
  };
  const server = http.createServer(
    {
      headersTimeout: settings.http.headersTimeoutMs,
      // Until the request is read in full; a response may stream on (build logs), and upgrades leave the timers.
      requestTimeout: settings.http.requestTimeoutMs,
      connectionsCheckingInterval: 1000,
    },
    (req, res) => {
      if (cap.isRefused(req.socket)) return;
      setCommonHeaders(res);
      if (!hosts.allowsHost(req.headers.host)) return refuse(res, misdirected(req.headers.host));
      const pathname = (req.url ?? "/").split("?")[0]!;
      try {
        decodePath(pathname);
      } catch (e) {
        return refuse(res, e as HttpError);
      }
      if (pathname.startsWith("/api/") || router.owns(pathname) || !nextHandler) {
        setApiHeaders(res);
        const problem = pathname.startsWith("/api/") ? apiWriteProblem(req, hosts) : undefined;
        if (problem) return refuse(res, problem);
        void router.handle(req, res);
        return;
      }
      const policy = pagePolicy(req);
      req.headers["content-security-policy"] = policy;
      res.setHeader("Content-Security-Policy", policy);
      nextHandler(req, res).catch((err) => {
        log.error({ err }, "page render failed");
        if (!res.headersSent) res.writeHead(500);
        res.end("internal error");
      });
    },
  );
  server.on("connection", (socket: net.Socket) => void cap.admit(socket));
  server.on("upgrade", (req, socket, head) => {
    if (cap.isRefused(socket)) return;
    if (!hosts.allowsHost(req.headers.host)) return refuseSocket(socket, misdirected(req.headers.host), "Misdirected Request");
    const pathname = (req.url ?? "/").split("?")[0]!;
    const route = upgrades.find((u) => pathname.startsWith(u.prefix));
    if (!route) {
      socket.destroy();
      return;
    }
    route.handle(req, socket, head);
  });
  server.keepAliveTimeout = 65_000;

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(settings.port, settings.host, () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : settings.port;
  hosts.listeningOn(port);
  const url = `http://${settings.host.includes(":") ? `[${settings.host}]` : settings.host}:${port}`;
  setInternalUrl(url);
  await kbs.start();

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      server.close();
      server.closeAllConnections();
      await kbs.close();
      closeSockets();
      killAllGroups();
    })());
  return { kbs, server, url, close };
}

/** Run until SIGTERM/SIGINT, then stop cleanly: no child process group outlives us. */
export async function serveForever(settings: Settings, opts: { withNext?: boolean } = {}): Promise<void> {
  const running = await startServer(settings, opts);
  // Tests and scripts wait for this exact line to learn the port.
  console.log(`kbs listening on ${running.url}`);
  const stop = async (signal: string) => {
    log.info({ signal }, "shutting down");
    await running.close();
    process.exit(0);
  };
  process.once("SIGTERM", () => void stop("SIGTERM"));
  process.once("SIGINT", () => void stop("SIGINT"));
}
