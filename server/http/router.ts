import type { IncomingMessage, ServerResponse } from "node:http";
import type { z } from "zod";
import { httpRequests } from "../core/metrics";
import { log } from "../core/log";
import { asDiskFull } from "../core/disk-full";
import { decodePath } from "./edge";
import { HttpError, badRequest, httpView } from "./errors";

export interface RouteContext {
  req: IncomingMessage;
  res: ServerResponse;
  params: Record<string, string>;
  url: URL;
}

/** A handler returns a value to send as JSON (status 200), a `Reply`, or nothing when it wrote `res` itself. */
export type Handler = (ctx: RouteContext) => Promise<unknown> | unknown;

export class Reply {
  constructor(
    readonly status: number,
    readonly body: unknown,
    readonly headers: Record<string, string> = {},
  ) {}
}

interface Route {
  method: string;
  pattern: string;
  regex: RegExp;
  keys: string[];
  handler: Handler;
}

/** A small method + path router (`/api/builds/:id/log`; a last `*name` takes the rest of the path) for the JSON API; no framework. */
export class Router {
  private routes: Route[] = [];

  /** `dataDir`: named in the 507 disk_full answer to a handler that hit a full disk. */
  constructor(private readonly opts: { dataDir?: string } = {}) {}

  add(method: string, pattern: string, handler: Handler): this {
    const keys: string[] = [];
    const regex = new RegExp(
      "^" +
        pattern.replace(/:([a-zA-Z]+)|\*([a-zA-Z]+)$/g, (_, k: string | undefined, rest: string | undefined) => {
          keys.push((k ?? rest)!);
          return k ? "([^/]+)" : "(.+)";
        }) +
        "/?$",
    );
    this.routes.push({ method, pattern, regex, keys, handler });
    return this;
  }
  get(p: string, h: Handler) {
    return this.add("GET", p, h);
  }
  post(p: string, h: Handler) {
    return this.add("POST", p, h);
  }
  delete(p: string, h: Handler) {
    return this.add("DELETE", p, h);
  }

  /** True when some route owns this path (any method). */
  owns(pathname: string): boolean {
    return this.routes.some((r) => r.regex.test(pathname));
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://localhost");
    const matching = this.routes.filter((r) => r.regex.test(url.pathname));
    const route = matching.find((r) => r.method === req.method || (req.method === "HEAD" && r.method === "GET"));
    let label = route?.pattern ?? "unmatched";
    try {
      if (!route) {
        if (matching.length) {
          throw new HttpError(405, "method_not_allowed", `${req.method} is not allowed here; use ${matching.map((r) => r.method).join(" or ")}`, {
            Allow: matching.map((r) => r.method).join(", "),
          });
        }
        label = "unmatched";
        throw new HttpError(404, "not_found", `No API route ${url.pathname}. See GET /api/projects for a start.`);
      }
      const m = route.regex.exec(url.pathname)!;
      const params: Record<string, string> = {};
      route.keys.forEach((k, i) => {
        params[k] = decodePath(m[i + 1]!);
      });
      const out = await route.handler({ req, res, params, url });
      if (res.headersSent || res.writableEnded) return;
      if (out instanceof Reply) sendJson(res, out.status, out.body, out.headers);
      else sendJson(res, 200, out ?? null);
    } catch (caught) {
      const e = this.opts.dataDir === undefined ? caught : asDiskFull(caught, this.opts.dataDir);
      if (e !== caught) log.warn({ err: caught, path: url.pathname }, "data disk full");
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const view = httpView(e);
      if (view) {
        sendJson(res, view.status, { error: { code: view.code, message: view.message, ...(view.details !== undefined ? { details: view.details } : {}) } }, view.headers);
      } else {
        log.error({ err: e, path: url.pathname }, "request failed");
        sendJson(res, 500, { error: { code: "internal", message: "Something went wrong on the server; the log has the details. Try again." } });
      }
    } finally {
      httpRequests.inc({ route: label, status: String(res.statusCode) });
    }
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const data = JSON.stringify(body);
  res.writeHead(status, { "Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store", ...headers });
  res.end(data);
}

/** Read a request body up to `limit` bytes; a larger one is a 413 with the limit named. */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers["content-length"] ?? "0");
  if (declared > limit) throw new HttpError(413, "too_large", `The request body is ${declared} bytes; the limit is ${limit} bytes.`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new HttpError(413, "too_large", `The request body is over the limit of ${limit} bytes.`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** Parse a JSON body against a zod schema; errors name the field and what is wrong with it. */
export async function readJson<T extends z.ZodType>(req: IncomingMessage, schema: T, limit = 1024 * 1024): Promise<z.infer<T>> {
  const raw = await readBody(req, limit);
  let value: unknown;
  try {
    value = JSON.parse(raw.toString("utf8") || "null");
  } catch {
    throw badRequest("bad_json", "The request body is not valid JSON.");
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const first = parsed.error.issues[0]!;
    throw badRequest("invalid_request", `${first.path.join(".") || "body"}: ${first.message}`, parsed.error.issues);
  }
  return parsed.data;
}

/** Parse query parameters against a zod schema. */
export function readQuery<T extends z.ZodType>(url: URL, schema: T): z.infer<T> {
  const parsed = schema.safeParse(Object.fromEntries(url.searchParams));
  if (!parsed.success) {
    const first = parsed.error.issues[0]!;
    throw badRequest("invalid_query", `${first.path.join(".")}: ${first.message}`);
  }
  return parsed.data;
}
