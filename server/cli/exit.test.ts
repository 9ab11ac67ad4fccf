import { describe, expect, it } from "vitest";
import { parseArgs } from "node:util";
import { KbsError, type ErrorKind } from "../core/errors";
import { loadSettings } from "../core/settings";
import { CliError, failure, UsageError } from "./exit";

describe("kbs exit codes: the one mapping from a thrown error to an exit code and a line", () => {
  const codes: Record<ErrorKind, number> = {
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

  it("gives every kind of domain error its code, with the message after the verb and no stack trace", () => {
    for (const [kind, code] of Object.entries(codes) as Array<[ErrorKind, number]>) {
      const f = failure("build", new KbsError(kind, `a_${kind}`, `it is ${kind}`), false);
      expect({ kind, code: f.code, usage: f.withUsage }).toEqual({ kind, code, usage: false });
      expect(f.text.split("\n")[0]).toBe(`kbs build: it is ${kind}`);
      expect(f.text).not.toMatch(/\n\s+at /);
    }
  });

  it("says when to try a temporary refusal again", () => {
    expect(failure("build", new KbsError("busy", "queue_full", "The build queue is full.", { retryAfterSec: 12 }), false)).toEqual({ code: 75, text: "kbs build: The build queue is full. (try again in 12 s)", withUsage: false });
  });

  it("prints usage errors with the usage, input errors as they are, and anything else as a failure with where to find the trace", () => {
    expect(failure("sync", new UsageError("give a project"), false)).toEqual({ code: 2, text: "kbs sync: give a project", withUsage: true });
    let parseError: unknown;
    try {
      parseArgs({ args: ["--bogus"], options: {} });
    } catch (e) {
      parseError = e;
    }
    expect(failure("sync", parseError, false)).toMatchObject({ code: 2, withUsage: true, text: expect.stringContaining("--bogus") });
    expect(failure("build", new CliError("kbs build: cannot read the config file x"), false)).toEqual({ code: 2, text: "kbs build: cannot read the config file x", withUsage: false });
    let settingsError: unknown;
    try {
      loadSettings({ PORT: "many" });
    } catch (e) {
      settingsError = e;
    }
    expect(failure("serve", settingsError, false)).toMatchObject({ code: 2, text: expect.stringContaining("PORT must be a number"), withUsage: false });
    const crash = new TypeError("x is undefined");
    expect(failure("sync", crash, false)).toEqual({ code: 1, text: "kbs sync: x is undefined\n(set KBS_DEBUG=1 for the stack trace)", withUsage: false });
    expect(failure("sync", crash, true).text).toBe(`kbs sync: x is undefined\n${crash.stack}`);
    expect(failure("sync", new KbsError("internal", "corrupt_bundle", "The bundle is unreadable."), false).text).toBe("kbs sync: The bundle is unreadable.\n(set KBS_DEBUG=1 for the stack trace)");
  });
});
