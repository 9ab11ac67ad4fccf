import { KbsError, type ErrorKind } from "../core/errors";
import { SettingsError } from "../core/settings";

/**
 * How `kbs` ends when a verb throws: the one place an error becomes an exit code and the
 * line a person reads (never a stack trace, unless KBS_DEBUG asks for it).
 *
 * 1: it failed (kbs itself, or a verb's own failure such as a failed build);
 * 2: the input or the usage is wrong: change it and run again;
 * 75 (EX_TEMPFAIL): not possible right now (busy, unavailable, disk full): run it again later.
 */
const EXIT_CODE: Record<ErrorKind, number> = {
  invalid: 2,
  unprocessable: 2,
  not_found: 2,
  conflict: 2,
  gone: 2,
  too_large: 2,
  unsupported: 2,
  unauthorized: 2,
  forbidden: 2,
  busy: 75,
  unavailable: 75,
  disk_full: 75,
  internal: 1,
};

/** An input error of a verb itself (a file it cannot read): printed as is, exit 2. */
export class CliError extends Error {}

/** Bad usage (a missing argument, one too many): printed with the verb's usage, exit 2. */
export class UsageError extends Error {}

export interface Failure {
  code: number;
  /** What goes to stderr, without the final newline. */
  text: string;
  /** The verb's usage goes after the text. */
  withUsage: boolean;
}

/** The exit code and message of `kbs <verb>` when it threw `e`. */
export function failure(verb: string, e: unknown, debug: boolean): Failure {
  if (e instanceof UsageError || isParseArgsError(e)) return { code: 2, text: `kbs ${verb}: ${(e as Error).message}`, withUsage: true };
  if (e instanceof SettingsError || e instanceof CliError) return { code: 2, text: e.message, withUsage: false };
  if (e instanceof KbsError && e.kind !== "internal") {
    const retry = e.retryAfterSec === undefined ? "" : ` (try again in ${e.retryAfterSec} s)`;
    return { code: EXIT_CODE[e.kind], text: `kbs ${verb}: ${e.message}${retry}`, withUsage: false };
  }
  const message = e instanceof Error ? e.message : String(e);
  const trace = debug ? (e instanceof Error ? (e.stack ?? "") : "") : "(set KBS_DEBUG=1 for the stack trace)";
  return { code: EXIT_CODE.internal, text: `kbs ${verb}: ${message}\n${trace}`, withUsage: false };
}

/** node:util parseArgs's own errors (an unknown option, a missing option value). */
function isParseArgsError(e: unknown): boolean {
  return e instanceof Error && typeof (e as NodeJS.ErrnoException).code === "string" && (e as NodeJS.ErrnoException).code!.startsWith("ERR_PARSE_ARGS_");
}
