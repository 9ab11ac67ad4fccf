import { describe, expect, it } from "vitest";
import { KbsError, type ErrorKind } from "../core/errors";
import { HttpError, httpView } from "./errors";

describe("httpView: a domain error's kind becomes its HTTP status", () => {
  const statuses: Record<ErrorKind, number> = {
    invalid: 400,
    unauthorized: 401,
    forbidden: 403,
    not_found: 404,
    conflict: 409,
    gone: 410,
    too_large: 413,
    unsupported: 415,
    unprocessable: 422,
    busy: 429,
    internal: 500,
    unavailable: 503,
    disk_full: 507,
  };

  it("maps every kind to its status, with the code, message and details as thrown", () => {
    for (const [kind, status] of Object.entries(statuses) as Array<[ErrorKind, number]>) {
      const view = httpView(new KbsError(kind, `a_${kind}`, `it is ${kind}`, { details: { kind } }));
      expect({ kind, status: view?.status, code: view?.code, message: view?.message, details: view?.details }).toEqual({ kind, status, code: `a_${kind}`, message: `it is ${kind}`, details: { kind } });
    }
  });

  it("sends Retry-After only when the error says when to retry, and a Bearer challenge with a 401", () => {
    expect(httpView(new KbsError("busy", "queue_full", "full", { retryAfterSec: 7 }))?.headers).toEqual({ "Retry-After": "7" });
    expect(httpView(new KbsError("unavailable", "queue_unavailable", "down", { retryAfterSec: 60 }))?.headers).toEqual({ "Retry-After": "60" });
    expect(httpView(new KbsError("busy", "too_many", "busy"))?.headers).toEqual({});
    expect(httpView(new KbsError("unauthorized", "bad_worker_token", "who?"))?.headers).toEqual({ "WWW-Authenticate": 'Bearer realm="kbs workers"' });
  });

  it("passes the edge's own HttpError through, and leaves any other error to be a 500 without its message", () => {
    expect(httpView(new HttpError(405, "method_not_allowed", "use GET", { Allow: "GET" }))).toEqual({ status: 405, code: "method_not_allowed", message: "use GET", headers: { Allow: "GET" }, details: undefined });
    expect(httpView(new Error("secret internals"))).toBeUndefined();
    expect(httpView("thrown string")).toBeUndefined();
  });
});
