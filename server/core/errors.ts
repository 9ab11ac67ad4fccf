/**
 * What went wrong, in the domain's words. Every part throws `KbsError`; only the
 * adapters turn its kind into something else: `server/http/errors.ts` into an HTTP
 * status (one table), `server/cli/exit.ts` into an exit code and a line for a person.
 */
export type ErrorKind =
  /** The input is malformed: a bad name, a missing field, a ref that is not one. */
  | "invalid"
  /** The input is well formed but cannot be used: a config the tree's tools refuse, a failed tree script. */
  | "unprocessable"
  | "not_found"
  /** The thing exists in another state: already running, not finished yet, in use. */
  | "conflict"
  /** This caller has too much going on; `retryAfterSec` says when to try again. */
  | "busy"
  /** The server cannot take it right now (a full queue, no Redis); `retryAfterSec` says when to try again. */
  | "unavailable"
  /** It existed and was removed (an expired artifact). */
  | "gone"
  /** The data disk (or quota) is full; nothing was stored. */
  | "disk_full"
  /** Over a size limit. */
  | "too_large"
  /** Of a type this cannot handle (a binary file where only text is shown). */
  | "unsupported"
  /** No valid credential (a worker token). */
  | "unauthorized"
  /** A valid credential, not allowed this. */
  | "forbidden"
  /** kbs itself failed; the log has the details. */
  | "internal";

export interface KbsErrorOptions {
  /** Seconds after which trying again may work (busy, unavailable). */
  retryAfterSec?: number;
  /** Machine-readable detail sent with the error (the fields that failed, the lines a tool printed). */
  details?: unknown;
}

/** An error a person can act on: its message says what happened and what to do next. */
export class KbsError extends Error {
  readonly retryAfterSec: number | undefined;
  readonly details: unknown;

  constructor(
    readonly kind: ErrorKind,
    /** A stable code for programs (`unknown_project`, `queue_full`), documented in DESIGN.md's API. */
    readonly code: string,
    message: string,
    opts: KbsErrorOptions = {},
  ) {
    super(message);
    this.retryAfterSec = opts.retryAfterSec;
    this.details = opts.details;
  }
}

export const invalid = (code: string, message: string, details?: unknown) => new KbsError("invalid", code, message, { details });
export const unprocessable = (code: string, message: string, details?: unknown) => new KbsError("unprocessable", code, message, { details });
export const notFound = (code: string, message: string, details?: unknown) => new KbsError("not_found", code, message, { details });
export const conflict = (code: string, message: string, details?: unknown) => new KbsError("conflict", code, message, { details });
