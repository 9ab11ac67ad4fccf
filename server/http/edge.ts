import crypto from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import os from "node:os";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { Settings } from "../core/settings";
import { HttpError } from "./errors";

/**
 * The HTTP edge: what every request and upgrade passes before a route sees it.
 * A Host allow-list (against DNS rebinding: a page on attacker.example that
 * re-points its name at this server still sends `Host: attacker.example`), the
 * Origin rule for WebSockets and state-changing API calls, the Content-Type rule
 * for those calls (a cross-site form or `text/plain` fetch cannot send JSON
 * without a preflight), security headers, and the path decoding rule.
 */

interface HostEntry {
  name: string;
  /** undefined: none given */
  port?: string;
}

/** `name`, `name:port`, `[v6]` or `[v6]:port`, lower-cased, a trailing dot dropped; undefined when it is none of these. */
export function parseHost(value: string): HostEntry | undefined {
  const v = value.trim().toLowerCase();
  const m = /^(\[[0-9a-f:.]+\]|[a-z0-9_.-]+)(?::(\d{1,5}))?$/.exec(v);
  if (!m) return undefined;
  return { name: m[1]!.replace(/\.$/, ""), port: m[2] };
}

/** An address as a Host header writes it (IPv6 in brackets). */
const asHostName = (address: string) => (address.includes(":") && !address.startsWith("[") ? `[${address}]` : address);

const WILDCARD_LISTEN = new Set(["0.0.0.0", "::", "[::]"]);

/** The names this server answers to, and the origins that may drive it. */
export class HostAllowList {
  /** The server's own names: allowed without a port or with the port it listens on. */
  private readonly ownNames: string[];
  private ownPort: string | undefined;
  /** KBS_ALLOWED_HOSTS: `name` at any port (a proxy's), `name:port` at that port. */
  private readonly extra: HostEntry[];
  private readonly origins: Set<string>;

  /**
   * Own names: the listen host, localhost, 127.0.0.1 and [::1]; on a wildcard listen
   * address also this machine's own addresses and host name (an IP literal or the
   * machine's name in Host is what a user typed, never a rebound name). Origins: any
   * http(s) origin whose host is allowed, and the exact KBS_ALLOWED_ORIGINS.
   */
  constructor(settings: Pick<Settings, "host" | "allowedHosts" | "allowedOrigins">) {
    const names = ["localhost", "127.0.0.1", "[::1]", asHostName(settings.host)];
    if (WILDCARD_LISTEN.has(settings.host)) {
      names.push(os.hostname());
      for (const list of Object.values(os.networkInterfaces())) for (const a of list ?? []) names.push(asHostName(a.address.replace(/%.*$/, "")));
    }
    this.ownNames = names.flatMap((n) => parseHost(n)?.name ?? []);
    this.extra = settings.allowedHosts.flatMap((h) => parseHost(h) ?? []);
    this.origins = new Set(settings.allowedOrigins);
  }

  /** The port the server listens on (known once it listens: PORT may be 0). */
  listeningOn(port: number): void {
    this.ownPort = String(port);
  }

  allowsHost(host: string | undefined): boolean {
    const h = host === undefined ? undefined : parseHost(host);
    if (!h) return false;
    if (this.ownNames.includes(h.name) && (h.port === undefined || h.port === this.ownPort)) return true;
    return this.extra.some((e) => e.name === h.name && (e.port === undefined || e.port === h.port));
  }

  allowsOrigin(origin: string): boolean {
    if (this.origins.has(origin)) return true;
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      return false;
    }
    return (url.protocol === "http:" || url.protocol === "https:") && this.allowsHost(url.host);
  }
}

/** A value from a request header for a message: bounded, control characters shown as escapes. */
export const shown = (v: string | undefined) =>
  v === undefined ? "(none)" : JSON.stringify(v.slice(0, 100)).slice(1, -1);

export function misdirected(host: string | undefined): HttpError {
  const name = host === undefined ? undefined : (parseHost(host)?.name ?? host);
  return new HttpError(
    421,
    "misdirected",
    host === undefined
      ? "The request has no Host header; kbs answers only to the names it is configured for."
      : `This kbs server does not answer to the host '${shown(host)}'. If that is its address, start kbs with KBS_ALLOWED_HOSTS=${shown(name)} (a comma list; the listen host, localhost, 127.0.0.1 and [::1] are always allowed).`,
  );
}

const STATE_CHANGING = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/**
 * A state-changing API call must come from an allowed origin when it names one
 * (browsers always do for cross-origin POST/DELETE, forms and sendBeacon included),
 * and its body must be JSON. A call without a body (curl -X POST, DELETE) needs no
 * Content-Type; one that sends a Content-Type must send application/json, so an
 * empty cross-site form post is refused too.
 */
export function apiWriteProblem(req: IncomingMessage, hosts: HostAllowList): HttpError | undefined {
  if (!STATE_CHANGING.has(req.method ?? "")) return undefined;
  const origin = req.headers.origin;
  if (origin !== undefined && !hosts.allowsOrigin(origin)) {
    return new HttpError(403, "cross_origin", `A page at '${shown(origin)}' may not change anything on this kbs server. Use kbs from its own address, or add that origin to KBS_ALLOWED_ORIGINS.`);
  }
  // A client that authenticates itself (a remote worker's token) is no browser form: a cross-site
  // page can set neither Authorization nor a body type without a CORS preflight, which kbs never answers.
  // Its routes check the token, and its uploads and log chunks are not JSON.
  if (req.headers.authorization !== undefined && origin === undefined) return undefined;
  const type = req.headers["content-type"];
  const hasBody = req.headers["transfer-encoding"] !== undefined || Number(req.headers["content-length"] ?? "0") > 0;
  const mediaType = type?.split(";")[0]!.trim().toLowerCase();
  if (mediaType === "application/json" || (type === undefined && !hasBody)) return undefined;
  return new HttpError(415, "unsupported_media_type", `Send the request body as JSON with 'Content-Type: application/json' (this request sent ${type === undefined ? "no Content-Type" : `'${shown(type)}'`}).`);
}

/** decodeURIComponent with a malformed escape as a 400 naming it (not a 500). */
export function decodePath(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    const bad = /%(?![0-9a-fA-F]{2})..?|(?:%[0-9a-fA-F]{2})+/.exec(s)?.[0] ?? "%";
    throw new HttpError(400, "bad_path", `The address has a malformed percent-encoding near '${shown(bad)}': each % must start a valid UTF-8 escape such as %20. Check the link.`);
  }
}

/** Headers every response carries: no MIME sniffing, no referrer to other sites. */
export function setCommonHeaders(res: ServerResponse): void {
  res.setHeader("X-Content-Type-Options", "nosniff");
  res.setHeader("Referrer-Policy", "same-origin");
}

/** API answers and downloads are data, never a document: nothing in them runs or frames. */
export function setApiHeaders(res: ServerResponse): void {
  res.setHeader("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'; sandbox");
}

/**
 * The pages' policy. Next's inline hydration scripts carry a per-request nonce (Next
 * reads it from the request's Content-Security-Policy header, as a middleware would
 * set it); its chunks and styles come from 'self'. xterm.js sets inline styles.
 * WebSockets go to this same host (listed as ws:/wss: for browsers whose 'self' omits them).
 */
export function pagePolicy(req: IncomingMessage): string {
  const nonce = crypto.randomBytes(16).toString("base64");
  const host = req.headers.host!;
  return [
    "default-src 'self'",
    `script-src 'self' 'nonce-${nonce}'`,
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "font-src 'self' data:",
    `connect-src 'self' ws://${host} wss://${host}`,
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join("; ");
}

/** A refusal written straight to a socket (an upgrade, a connection over the cap), JSON like every API error. */
export function refuseSocket(socket: Duplex, e: HttpError, reason: string): void {
  const body = JSON.stringify({ error: { code: e.code, message: e.message } });
  socket.end(`HTTP/1.1 ${e.status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

/** The client address a connection counts against (IPv4-mapped IPv6 as IPv4). */
export const clientAddress = (address: string | undefined) => (address ?? "unknown").replace(/^::ffff:(?=\d+\.)/, "");

/**
 * Open connections per client address, at most `max`: one client cannot hold every
 * socket the server has. A connection over the cap is answered 429 and closed
 * before anything it sends is read.
 */
export class ConnectionCap {
  private readonly open = new Map<string, number>();
  private readonly refused = new WeakSet<Duplex>();

  constructor(private readonly max: number) {}

  /** Count a new connection; false when its client is at the cap (then it has been answered and is closing). */
  admit(socket: Socket): boolean {
    const client = clientAddress(socket.remoteAddress);
    const n = this.open.get(client) ?? 0;
    if (n >= this.max) {
      this.refused.add(socket);
      refuseSocket(
        socket,
        new HttpError(429, "too_many_connections", `This client already has ${this.max} open connections to kbs (KBS_MAX_CONNECTIONS_PER_CLIENT). Close some (other tabs, stuck scripts) and try again.`),
        "Too Many Requests",
      );
      // The client closes after reading the answer; one that does not is dropped.
      socket.setTimeout(5000, () => socket.destroy());
      return false;
    }
    this.open.set(client, n + 1);
    socket.once("close", () => {
      const left = (this.open.get(client) ?? 1) - 1;
      if (left > 0) this.open.set(client, left);
      else this.open.delete(client);
    });
    return true;
  }

  /** A request or upgrade arriving on a refused connection is not served. */
  isRefused(socket: Duplex): boolean {
    return this.refused.has(socket);
  }
}
