// The terminal protocol's error codes (DESIGN.md "Terminal protocol"), without zod: the
// browser's client needs them at run time, and a zod schema built in the browser probes
// `new Function`, which the page's CSP reports (e2e/csp.spec.ts).

/** Error codes the server sends in `error` messages. */
export const errorCodes = [
  "init_required",
  "bad_message",
  "frame_too_large",
  "unknown_session",
  "replaced",
  "terminal_too_small",
  "idle_timeout",
  "max_lifetime",
  "sandbox_failed",
  "save_failed",
  "config_refused",
  "disk_full",
  "session_closed",
  "server_shutdown",
] as const;
export type ErrorCode = (typeof errorCodes)[number];

/** Errors after which reconnecting cannot help: the session is over for this client. */
export const fatalErrorCodes: ReadonlySet<ErrorCode> = new Set<ErrorCode>(["unknown_session", "replaced", "idle_timeout", "max_lifetime", "sandbox_failed", "session_closed", "server_shutdown", "init_required"]);
