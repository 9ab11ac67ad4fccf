import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { openDb, type Db } from "../core/db";
import { SessionStore } from "./store";

describe("SessionStore", () => {
  let dir: string;
  let db: Db;
  afterEach(() => {
    db?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("records a session, the config it stored last and how it ended, across a reopen", () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "kbs-sessions-"));
    db = openDb(dir);
    const store = new SessionStore(db);
    expect(store.get("s1")).toBeUndefined();
    store.add({ id: "s1", project: "fw", rev: "v1", commit: "c0ffee", describe: "v1", kconfigHash: "hash", client: "10.0.0.1", configId: undefined });
    expect(store.get("s1")).toMatchObject({ id: "s1", project: "fw", rev: "v1", commit: "c0ffee", describe: "v1", kconfigHash: "hash", endedAt: null, endReason: null, configId: null });
    store.saved("s1", "cfg");
    store.ended("s1", "idle");
    db.close();
    db = openDb(dir);
    const rec = new SessionStore(db).get("s1")!;
    expect(rec).toMatchObject({ configId: "cfg", endReason: "idle" });
    expect(Date.parse(rec.endedAt!)).toBeGreaterThanOrEqual(Date.parse(rec.createdAt));
  });
});
