import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { tmpDir } from "../../test/helpers/tmp";
import { KbsError } from "../core/errors";
import { GUEST_IN, GUEST_OUT } from "../core/guest-paths";
import { loadSettings } from "../core/settings";
import { createBackend } from "./service";
import { runStaged } from "./stage";

// A real bwrap sandbox: the staging helper is what hands files across its boundary.
const dataDir = tmpDir("kbs-stage-");
const stagingDir = path.join(dataDir, "staging");
const sandbox = await createBackend("bwrap", { dataDir, sandboxes: loadSettings().sandboxes, stagingDir });
const deps = { settings: { stagingDir }, sandbox };
/** What this process left under the staging root (each run's dir is removed after it). */
const leftOver = () => fs.readdirSync(stagingDir).filter((n) => n.startsWith("sb-"));

describe("runStaged: hand files to a one-shot sandbox, run, collect", () => {
  it("hands linked, copied and written inputs in read-only at /kbs/in and collects what the tool writes to /kbs/out", async () => {
    const host = tmpDir("kbs-stage-src-");
    fs.writeFileSync(path.join(host, "bundle.tar"), "linked\n");
    fs.writeFileSync(path.join(host, "helper.py"), "copied\n");
    const into = path.join(tmpDir("kbs-stage-out-"), "out");
    const r = await runStaged(deps, {
      image: "menuconfig",
      inputs: { "bundle.tar": { link: path.join(host, "bundle.tar") }, "helper.py": { copy: path.join(host, "helper.py") }, config: "CONFIG_A=y\n" },
      argv: ["/bin/sh", "-c", `cat ${GUEST_IN}/bundle.tar ${GUEST_IN}/helper.py ${GUEST_IN}/config > ${GUEST_OUT}/result; touch ${GUEST_IN}/x 2>/dev/null && echo writable; echo done`],
      collect: { into, maxBytes: 1024 * 1024 },
      failure: { code: "tool_failed", what: "the test tool" },
    });
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe("done\n");
    expect(fs.readFileSync(path.join(into, "result"), "utf8")).toBe("linked\ncopied\nCONFIG_A=y\n");
    expect(leftOver()).toEqual([]);
  });

  it("turns a failed run into an unprocessable error quoting the tool's last stderr lines, and cleans up", async () => {
    const run = runStaged(deps, {
      image: "menuconfig",
      inputs: { config: "x\n" },
      argv: ["/bin/sh", "-c", "for i in 1 2 3 4 5 6 7; do echo line $i >&2; done; exit 3"],
      failure: { code: "tool_failed", what: "Running the test tool" },
    });
    const e = await run.catch((err: unknown) => err);
    expect(e).toBeInstanceOf(KbsError);
    expect(e).toMatchObject({
      kind: "unprocessable",
      code: "tool_failed",
      message: "Running the test tool failed: line 3 | line 4 | line 5 | line 6 | line 7",
      details: { stderr: ["line 3", "line 4", "line 5", "line 6", "line 7"] },
    });
    expect(leftOver()).toEqual([]);
  });

  it("without `failure`, returns the failed run for the caller to read", async () => {
    const r = await runStaged(deps, { image: "menuconfig", inputs: {}, argv: ["/bin/sh", "-c", "echo nope >&2; exit 4"] });
    expect(r.code).toBe(4);
    expect(r.stderr.toString()).toBe("nope\n");
  });
});
