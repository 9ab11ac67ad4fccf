import { describe, expect, it } from "vitest";
import { openDb } from "../core/db";
import { tmpDir } from "../../test/helpers/tmp";
import { BuildStore, type NewBuild } from "./store";

const input = (key: string, client = "1.2.3.4"): NewBuild => ({
  key,
  project: "demo",
  rev: "v0.1.0",
  commit: "a".repeat(40),
  describe: "v0.1.0",
  configId: "c".repeat(64),
  recipe: "kconfiglib",
  recipeVersion: 1,
  image: "build-firmware",
  client,
});
const bounds = { queueMax: 100, clientMax: 100, retryAfter: () => 7 };

describe("BuildStore", () => {
  it("joins identical requests from two connections to one build, and serves the finished one as cached", () => {
    const dir = tmpDir();
    const a = new BuildStore(openDb(dir));
    const b = new BuildStore(openDb(dir));
    const outcomes = Array.from({ length: 50 }, (_, i) => (i % 2 ? a : b).createOrJoin(input("k1"), bounds));
    expect(new Set(outcomes.map((o) => o.build.id)).size).toBe(1);
    expect(outcomes.filter((o) => o.outcome === "created")).toHaveLength(1);
    const job = a.claimNext("host:1/0")!;
    expect(job.id).toBe(outcomes[0]!.build.id);
    expect(b.createOrJoin(input("k1"), bounds).outcome).toBe("joined");
    expect(a.finish(job.id, job.attempt, { state: "succeeded", artifacts: [{ name: "x.bin", size: 1, sha256: "f".repeat(64) }] })).toBe(true);
    const again = b.createOrJoin(input("k1"), bounds);
    expect(again.outcome).toBe("cached");
    expect(again.build.artifacts[0]!.name).toBe("x.bin");
  });

  it("builds again after a failure, and not after expiry of the cached one", () => {
    const s = new BuildStore(openDb(tmpDir()));
    const first = s.createOrJoin(input("k2"), bounds).build;
    const job = s.claimNext("w")!;
    s.finish(job.id, job.attempt, { state: "failed", failedStep: "build", errorSummary: "boom" });
    const second = s.createOrJoin(input("k2"), bounds);
    expect(second.outcome).toBe("created");
    expect(second.build.id).not.toBe(first.id);
  });

  it("counts queue positions, bounds the queue and each client with Retry-After", () => {
    const s = new BuildStore(openDb(tmpDir()));
    const ids = ["q1", "q2", "q3"].map((k) => s.createOrJoin(input(k), { ...bounds, queueMax: 3 }).build.id);
    expect(ids.map((id) => s.position(id))).toEqual([1, 2, 3]);
    let err: unknown;
    try {
      s.createOrJoin(input("q4"), { ...bounds, queueMax: 3 });
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ kind: "busy", code: "queue_full", retryAfterSec: 7 });
    expect(() => s.createOrJoin(input("q5"), { ...bounds, clientMax: 3 })).toThrow(/already have 3 builds waiting/);
    expect(s.createOrJoin(input("q5", "5.6.7.8"), { ...bounds, clientMax: 3 }).outcome).toBe("created");
    s.claimNext("w");
    expect(s.position(ids[1]!)).toBe(1);
    expect(s.position(ids[0]!)).toBeNull();
  });

  it("lets only the latest attempt finish, and cancellation win over a late finish", () => {
    const s = new BuildStore(openDb(tmpDir()));
    const id = s.createOrJoin(input("r1"), bounds).build.id;
    expect(s.claim(id, "w1")).toBe(1);
    expect(s.claim(id, "w2")).toBe(2); // w1 died; the job was redelivered
    expect(s.finish(id, 1, { state: "succeeded" })).toBe(false);
    expect(s.finish(id, 2, { state: "succeeded" })).toBe(true);
    expect(s.claim(id, "w3")).toBeUndefined();

    const c = s.createOrJoin(input("r2"), bounds).build.id;
    const attempt = s.claim(c, "w")!;
    expect(s.cancel(c)!.state).toBe("cancelled");
    expect(s.finish(c, attempt, { state: "succeeded" })).toBe(false);
    expect(s.get(c)!.state).toBe("cancelled");
  });

  it("re-queues builds whose worker is gone, and only those", () => {
    const s = new BuildStore(openDb(tmpDir()));
    const a = s.createOrJoin(input("o1"), bounds).build.id;
    const b = s.createOrJoin(input("o2"), bounds).build.id;
    s.claim(a, "dead");
    s.claim(b, "alive");
    expect(s.requeueOrphans((w) => w === "dead")).toEqual([a]);
    expect(s.get(a)!.state).toBe("queued");
    expect(s.get(b)!.state).toBe("running");
  });
});
