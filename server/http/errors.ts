import { KbsError, type ErrorKind } from "../core/errors";

/** An error of the HTTP edge itself (a method a route does not take, a body over the limit), with its status. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
    readonly details?: unknown,
  ) {
    super(message);
  }
}

export const notFound = (code: string, message: string, details?: unknown) => new HttpError(404, code, message, {}, details);
export const badRequest = (code: string, message: string, details?: unknown) => new HttpError(400, code, message, {}, details);

/** The one place a domain error's kind becomes an HTTP status. */
const STATUS: Record<ErrorKind, number> = {
  invalid: 400,
  unprocessable: 422,
  not_found: 404,
  conflict: 409,
  busy: 429,
  unavailable: 503,
  gone: 410,
  disk_full: 507,
  too_large: 413,
  unsupported: 415,
  unauthorized: 401,
  forbidden: 403,
  internal: 500,
};

/** Status, code, message, headers and details of an error a person can act on; undefined for any other error (a 500). */
export function httpView(e: unknown): { status: number; code: string; message: string; headers: Record<string, string>; details: unknown } | undefined {
  if (e instanceof HttpError) return { status: e.status, code: e.code, message: e.message, headers: e.headers, details: e.details };
  if (e instanceof KbsError) {
    const headers: Record<string, string> = e.retryAfterSec === undefined ? {} : { "Retry-After": String(e.retryAfterSec) };
    // A 401 names the scheme it wants (RFC 9110); the only credentials kbs takes are worker tokens.
    if (e.kind === "unauthorized") headers["WWW-Authenticate"] = 'Bearer realm="kbs workers"';
    return { status: STATUS[e.kind], code: e.code, message: e.message, headers, details: e.details };
  }
  return undefined;
}
