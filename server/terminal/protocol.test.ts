import { describe, expect, it } from "vitest";
import { FlowControl } from "./flow";
import { MAX_COLS, MIN_ROWS, parseClientMessage } from "../../contracts/terminal-protocol";
import { ScreenMirror } from "./screen";

describe("terminal protocol messages", () => {
  it("accepts the four client messages and clamps sizes", () => {
    expect(parseClientMessage('{"type":"init","cols":100,"rows":30}')).toEqual({ ok: true, msg: { type: "init", cols: 100, rows: 30 } });
    expect(parseClientMessage('{"type":"resize","cols":100000,"rows":-4}')).toEqual({ ok: true, msg: { type: "resize", cols: MAX_COLS, rows: MIN_ROWS } });
    expect(parseClientMessage('{"type":"ack","bytes":4096}')).toEqual({ ok: true, msg: { type: "ack", bytes: 4096 } });
    expect(parseClientMessage('{"type":"save"}')).toEqual({ ok: true, msg: { type: "save" } });
  });
  it("refuses anything else with a reason", () => {
    for (const bad of ["not json", "[]", '{"type":"launch"}', '{"type":"init","cols":"80","rows":24}', '{"type":"ack","bytes":-1}']) {
      const r = parseClientMessage(bad);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.reason.length).toBeGreaterThan(10);
    }
  });
});

describe("flow control", () => {
  it("pauses above the high watermark and resumes only below the low one", () => {
    const events: string[] = [];
    const f = new FlowControl({ high: 100, low: 20, pause: () => events.push("pause"), resume: () => events.push("resume") });
    f.acked(0); // the client acks: ack accounting is on
    f.sent(90, 0);
    expect(events).toEqual([]);
    f.sent(20, 0);
    expect(events).toEqual(["pause"]);
    f.acked(60); // 50 unacked: between the marks, still paused
    expect(events).toEqual(["pause"]);
    f.acked(40);
    expect(events).toEqual(["pause", "resume"]);
  });
  it("holds back a client that never acks by its socket buffer alone", () => {
    const events: string[] = [];
    const f = new FlowControl({ high: 100, low: 20, pause: () => events.push("pause"), resume: () => events.push("resume") });
    f.sent(1000, 10);
    expect(events).toEqual([]);
    f.sent(10, 500);
    expect(events).toEqual(["pause"]);
    f.bufferedNow(0);
    expect(events).toEqual(["pause", "resume"]);
  });
});

describe("screen mirror", () => {
  it("serializes the screen so a fresh terminal shows the same lines, alternate screen included", async () => {
    const m = new ScreenMirror(40, 6);
    // UTF-8 split across writes, as pty reads may split it.
    const bytes = Buffer.from("\x1b[?1049h\x1b[H\x1b[2J\x1b[1;31mTitle\x1b[0m\r\n  ─ ü line two", "utf8");
    const cut = bytes.indexOf(0x94);
    m.write(bytes.subarray(0, cut));
    m.write(bytes.subarray(cut));
    const snap = await m.snapshot();
    const copy = new ScreenMirror(40, 6);
    copy.write(snap);
    expect((await copy.lines()).slice(0, 2)).toEqual(["Title", "  ─ ü line two"]);
    expect(await copy.lines()).toEqual(await m.lines());
  });

  it("parses output written before a resize at the old size", async () => {
    const m = new ScreenMirror(10, 3);
    m.write(Buffer.from("0123456789abc"));
    m.resize(20, 3);
    m.write(Buffer.from("\r\nnext"));
    expect(await m.lines()).toEqual(["0123456789", "abc", "next"]);
  });
});
