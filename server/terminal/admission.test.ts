import { describe, expect, it } from "vitest";
import { KbsError } from "../core/errors";
import { Admission } from "./admission";

function refusal(f: () => unknown): KbsError {
  try {
    f();
  } catch (e) {
    if (e instanceof KbsError) return e;
    throw e;
  }
  throw new Error("not refused");
}

describe("Admission", () => {
  it("counts creations under way and running sessions per address; a cancelled one frees its place", () => {
    const a = new Admission({ max: 10, perClient: 2 }, () => undefined);
    const first = a.admit("10.0.0.1");
    const second = a.admit("10.0.0.1");
    const refused = refusal(() => a.admit("10.0.0.1"));
    expect(refused).toMatchObject({ kind: "busy", code: "too_many_sessions", retryAfterSec: 30 });
    expect(refused.message).toMatch(/You already have 2 menuconfig sessions open \(the limit is 2 per address\)\. Close one/);
    // Another address has its own limit.
    a.admit("10.0.0.2").cancelled();
    first.started("s1");
    second.cancelled();
    const third = a.admit("10.0.0.1");
    third.started("s3");
    expect(() => a.admit("10.0.0.1")).toThrow(KbsError);
    a.ended("s1");
    a.admit("10.0.0.1").cancelled();
  });

  it("names the address's sessions that wait for a reconnect and when the first frees", () => {
    const now = Date.now();
    const lingering = new Map([
      ["s1", now + 42_000],
      ["s2", now + 90_000],
    ]);
    const a = new Admission({ max: 10, perClient: 3 }, (id) => lingering.get(id));
    for (const id of ["s1", "s2", "s3"]) a.admit("10.0.0.1").started(id);
    const refused = refusal(() => a.admit("10.0.0.1"));
    expect(refused.kind).toBe("busy");
    expect(refused.message).toMatch(/2 of them have no page connected and waits for a reconnect; the first ends in 4[12] s\./);
    expect(refused.retryAfterSec).toBeGreaterThanOrEqual(41);
    expect(refused.retryAfterSec).toBeLessThanOrEqual(42);
  });

  it("the server's own limit counts every address, and is unavailable for a minute", () => {
    const a = new Admission({ max: 2, perClient: 5 }, () => undefined);
    a.admit("10.0.0.1").started("s1");
    a.admit("10.0.0.2");
    expect(refusal(() => a.admit("10.0.0.3"))).toMatchObject({ kind: "unavailable", code: "too_many_sessions", retryAfterSec: 60 });
    a.ended("s1");
    a.admit("10.0.0.3");
  });
});
