import http from "node:http";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer, type RunningServer } from "../main";
import { loadSettings } from "../core/settings";
import { addFixtureProject } from "../../test/fixtures/builds";
import { api, buildTestEnv, saveConfig } from "../../test/helpers/builds";
import { createFakeLinuxRepo } from "../../test/fixtures/fake-linux";
import { tmpDir } from "../../test/helpers/tmp";
import { createSymbolFixtureRepo, type SymbolFixtureRepo } from "../../test/fixtures/symbols";
import type { SymbolHistory } from "../../contracts/symbols";
import type { SymbolEntry } from "../../contracts/symbols";

/** A GET with the path sent exactly as written. */
function rawGet(url: string): Promise<{ status: number; body: string }> {
  const u = new URL(url);
  const pathAsWritten = url.slice(u.origin.length);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, path: pathAsWritten, method: "GET" }, (res) => {
      let body = "";
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode!, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- API bodies are checked field by field below
type Json = any;

describe("symbol explorer API", () => {
  let server: RunningServer;
  let base: string;
  let repo: SymbolFixtureRepo;

  beforeAll(async () => {
    const dataDir = path.join(tmpDir(), "data");
    const env = { ...buildTestEnv, KBS_DATA_DIR: dataDir, PORT: "0" };
    repo = createSymbolFixtureRepo(path.join(tmpDir(), "sym"));
    await addFixtureProject(env, "sym", repo.dir);
    await addFixtureProject(env, "kernel", createFakeLinuxRepo(path.join(tmpDir(), "linux")).dir, "linux");
    server = await startServer(loadSettings(env), { withNext: false });
    base = server.url;
  }, 300_000);

  afterAll(async () => {
    await server?.close();
  });

  const get = <T = Json>(p: string) => api<T>(base, "GET", p);

  it("indexes a tree in the sandbox: choices, select/imply both ways, two definition sites, help, menus, if blocks, $(shell,...)", async () => {
    const cdc = await get<SymbolEntry>("/api/projects/sym/revisions/v3/symbols/USB_CDC");
    expect(cdc.status, JSON.stringify(cdc.body)).toBe(200);
    expect(cdc.body).toMatchObject({
      name: "USB_CDC",
      type: "bool",
      prompts: [{ text: "USB serial (CDC)", cond: null }],
      help: "Talk to the host over USB.",
      sites: [{ file: "src/Kconfig", line: expect.any(Number) }],
      selects: [{ symbol: "USB_STACK", cond: null }],
      implies: [{ symbol: "USB_LOG", cond: null }],
      menu: [["Communication"]],
      choice: null,
    });
    const stack = (await get<SymbolEntry>("/api/projects/sym/revisions/v3/symbols/USB_STACK")).body;
    expect(stack.selectedBy).toEqual([{ symbol: "USB_CDC", cond: null }]);
    expect(stack.selects).toEqual([{ symbol: "IRQ_CORE", cond: null }]);
    const irq = (await get<SymbolEntry>("/api/projects/sym/revisions/v3/symbols/IRQ_CORE")).body;
    expect(irq.selectedBy.map((s) => s.symbol).sort()).toEqual(["MACH_BETA", "USB_STACK"]);
    expect(irq.prompts).toEqual([]);
    const log = (await get<SymbolEntry>("/api/projects/sym/revisions/v3/symbols/USB_LOG")).body;
    expect(log.impliedBy).toEqual([{ symbol: "USB_CDC", cond: null }]);
    expect(log.dependsOn).toBe("USB_STACK");

    const ram = (await get<SymbolEntry>("/api/projects/sym/revisions/v3/symbols/BOARD_RAM_KB")).body;
    expect(ram.sites.map((s) => s.file)).toEqual(["src/Kconfig", "src/board/Kconfig"]);
    expect(ram.ranges).toEqual([{ low: "8", high: "512", cond: null }]);
    expect(ram.defaults).toEqual([
      { value: "64", cond: "MACH_ALPHA" },
      { value: "128", cond: "MACH_BETA" },
    ]);
    expect(ram.menu).toEqual([[], ["Board"]]);

    const beta = (await get<SymbolEntry>("/api/projects/sym/revisions/v3/symbols/MACH_BETA")).body;
    expect(beta.choice).toEqual({ name: null, prompt: "Processor", members: ["MACH_ALPHA", "MACH_BETA"], default: "MACH_ALPHA" });
    const can = (await get<SymbolEntry>("/api/projects/sym/revisions/v3/symbols/BETA_CAN")).body;
    expect(can.dependsOn).toBe("MACH_BETA");
    expect(can.refs).toContain("MACH_BETA");
    const tag = (await get<SymbolEntry>("/api/projects/sym/revisions/v3/symbols/BUILD_TAG")).body;
    // the Kconfig preprocessor's $(shell,...) ran while parsing, inside the sandbox
    expect(tag.defaults).toEqual([{ value: '"in-sandbox"', cond: null }]);
    // CONFIG_-prefixed names find the symbol too
    expect((await get("/api/projects/sym/revisions/v3/symbols/CONFIG_USB_CDC")).body.name).toBe("USB_CDC");
  }, 120_000);

  it("searches names and prompts, prefix matches first", async () => {
    const r = await get("/api/projects/sym/revisions/v3/symbols?q=usb&limit=10");
    expect(r.status).toBe(200);
    expect(r.body.symbols.map((s: { name: string }) => s.name)).toEqual(["USB_CDC", "USB_LOG", "USB_STACK"]);
    const inName = await get("/api/projects/sym/revisions/v3/symbols?q=CAN");
    expect(inName.body.symbols[0]).toMatchObject({ name: "BETA_CAN", match: "name" });
    const byPrompt = await get("/api/projects/sym/revisions/v3/symbols?q=serial");
    expect(byPrompt.body.symbols).toEqual([{ name: "USB_CDC", type: "bool", prompt: "USB serial (CDC)", match: "prompt" }]);
    expect((await get("/api/projects/sym/revisions/v3/symbols?q=usb&limit=1")).body.symbols).toHaveLength(1);
    expect((await get("/api/projects/sym/revisions/v3/symbols?limit=0")).status).toBe(400);
  });

  it("answers unknown symbols, odd names and unknown revisions clearly", async () => {
    const unknown = await get("/api/projects/sym/revisions/v3/symbols/USB_CD");
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe("unknown_symbol");
    expect(unknown.body.error.message).toMatch(/has no symbol USB_CD; did you mean USB_CDC/);
    for (const odd of ["..%2F..%2Fetc", "A%20B", "%3Cscript%3E", "%E2%82%AC", "%ZZ"]) {
      const r = await get(`/api/projects/sym/revisions/v3/symbols/${odd}`);
      expect(r.status, odd).toBe(400);
      expect(r.body.error.message).not.toMatch(/at .*\.ts|Error:/);
    }
    expect((await get("/api/projects/sym/revisions/nope/symbols/USB_CDC")).body.error.code).toBe("unknown_revision");
    expect((await get("/api/projects/nope/revisions/v3/symbols/USB_CDC")).status).toBe(404);
  });

  it("records a tree that does not parse, says so, and sessions still start on it", async () => {
    const r = await get("/api/projects/sym/revisions/v5/symbols/USB_CDC");
    expect(r.status).toBe(422);
    expect(r.body.error.code).toBe("kconfig_unparsable");
    expect(r.body.error.message).toMatch(/does not parse.*sessions still work/);
    expect(r.body.error.message).toMatch(/src\/Kconfig/);
    const again = await get("/api/projects/sym/revisions/v5/symbols?q=USB");
    expect(again.status).toBe(422);
    const s = await api<Json>(base, "POST", "/api/sessions", { project: "sym", rev: "v5" });
    expect(s.status, JSON.stringify(s.body)).toBe(201);
    await api(base, "DELETE", `/api/sessions/${s.body.id}`);
  });

  it("gives a symbol's value in a config and why: set by the user, selected, implied, invisible, the default", async () => {
    const id = await saveConfig(base, "sym", "v3", "CONFIG_MACH_BETA=y\nCONFIG_USB_CDC=y\n");
    const why = async (name: string) => (await get(`/api/projects/sym/revisions/v3/symbols/${name}?config=${id}`)).body.config;
    expect(await why("USB_CDC")).toMatchObject({ id, value: "y", inConfig: true, why: { kind: "user" } });
    expect(await why("MACH_BETA")).toMatchObject({ value: "y", why: { kind: "user" } });
    expect(await why("USB_STACK")).toMatchObject({ value: "y", why: { kind: "selected", by: ["USB_CDC"] } });
    expect((await why("IRQ_CORE")).why).toMatchObject({ kind: "selected" });
    expect(await why("USB_LOG")).toMatchObject({ value: "y", why: { kind: "implied", by: ["USB_CDC"] } });
    expect(await why("BOARD_LEDS")).toMatchObject({ inConfig: false, why: { kind: "invisible", because: ["!MACH_BETA"] } });
    expect(await why("BOARD_RAM_KB")).toMatchObject({ value: "128", why: { kind: "default", from: "128", cond: "MACH_BETA" } });

    const summary = await get(`/api/configs/${id}/symbols`);
    expect(summary.status).toBe(200);
    expect(summary.body.chosen.sort()).toEqual(["MACH_BETA", "USB_CDC"]);
    const leds = summary.body.changed.find((c: { symbol: string }) => c.symbol === "BOARD_LEDS");
    expect(leds).toMatchObject({ chosen: false, inConfig: false, default: "2" });
    expect(summary.body.changed.find((c: { symbol: string }) => c.symbol === "USB_CDC")).toMatchObject({ chosen: true, inConfig: true });
    expect((await get(`/api/projects/sym/revisions/v3/symbols/USB_CDC?config=${"0".repeat(64)}`)).body.error.code).toBe("unknown_config");
  }, 120_000);

  it("serves tree files of that commit only, refusing escapes, symlinks, binaries and directories", async () => {
    const k = await fetch(`${base}/api/projects/sym/revisions/v3/files/src/display/Kconfig`);
    expect(k.status).toBe(200);
    expect(await k.text()).toContain("second help, rewritten");
    expect(k.headers.get("x-kbs-commit")).toBe(repo.commits.v3);
    expect((await get("/api/projects/sym/revisions/v4/files/src/display/Kconfig")).body.error.code).toBe("unknown_file");
    expect((await get("/api/projects/sym/revisions/v3/files/src/Kconfig.link")).body.error.code).toBe("symlink_refused");
    expect((await get("/api/projects/sym/revisions/v3/files/logo.bin")).body.error.code).toBe("binary_file");
    expect((await get("/api/projects/sym/revisions/v3/files/src")).body.error.code).toBe("not_a_file");
    // Raw request paths (fetch would normalise them). Literal dot segments are resolved by URL parsing
    // before routing, so they land outside the files route; encoded ones reach the check.
    for (const dots of ["src/../../../../../etc/passwd", "src/%2E%2E/%2E%2E/%2E%2E/%2E%2E/etc/passwd"]) {
      const r = await rawGet(`${base}/api/projects/sym/revisions/v3/files/${dots}`);
      expect(r.status, dots).toBe(404);
      expect(r.body).not.toContain("root:");
    }
    for (const bad of ["%2E%2E%2F%2E%2E%2Fetc%2Fpasswd", "%2Fetc%2Fpasswd", "src//Kconfig", "src%2F.%2FKconfig", "src/Kconfig%00", "src%5CKconfig"]) {
      const r = await rawGet(`${base}/api/projects/sym/revisions/v3/files/${bad}`);
      expect(r.status, bad).toBe(400);
      expect(JSON.parse(r.body).error.code, bad).toBe("bad_path");
    }
  });

  it("gives a symbol's history over the project's distinct trees: appears, help changes, disappears", async () => {
    const h = await get<SymbolHistory>("/api/projects/sym/symbols/LCD_SPI/history");
    expect(h.status, JSON.stringify(h.body)).toBe(200);
    expect(h.body.first).toEqual({ rev: "v2", sha: repo.commits.v2 });
    expect(h.body.last).toEqual({ rev: "v3", sha: repo.commits.v3 });
    expect(h.body.changes).toEqual([
      { rev: "v2", sha: repo.commits.v2, kind: "added" },
      { rev: "v3", sha: repo.commits.v3, kind: "changed", parts: ["help"] },
      { rev: "v4", sha: repo.commits.v4, kind: "removed" },
    ]);
    // v4's tree is v1's again (a revert): one index serves both, and history still sees the step
    expect(h.body.trees).toEqual({ total: 4, indexed: 4, unparsed: 1, pending: 0 });
    const stable = (await get<SymbolHistory>("/api/projects/sym/symbols/USB_CDC/history")).body;
    expect(stable.first?.rev).toBe("v1");
    expect(stable.changes).toEqual([{ rev: "v1", sha: repo.commits.v1, kind: "added" }]);
    // v5 has USB_CDC too, but its Kconfig does not parse: v4 is the last revision known to have it
    expect(stable.last?.rev).toBe("v4");
    expect((await get("/api/projects/sym/symbols/NEVER_THERE/history")).status).toBe(404);
    expect((await get("/api/projects/sym/symbols/bad%20name/history")).status).toBe(400);
  }, 120_000);

  it("indexes the fake Linux tree with the recipe's environment and the session's ARCH", async () => {
    const x86 = await get<SymbolEntry>("/api/projects/kernel/revisions/v6.1.2/symbols/NR_CPUS");
    expect(x86.status, JSON.stringify(x86.body)).toBe(200);
    expect(x86.body).toMatchObject({ type: "int", sites: [{ file: "arch/x86/Kconfig" }], ranges: [{ low: "1", high: "512", cond: null }] });
    const arm = await get("/api/projects/kernel/revisions/v6.1.2/symbols/NR_CPUS?arch=arm64");
    expect(arm.status).toBe(404);
    expect((await get("/api/projects/kernel/revisions/v6.1.2/symbols/ARM64_PAGE_SHIFT?arch=arm64")).status).toBe(200);
    expect((await get("/api/projects/kernel/revisions/v6.1.2/symbols/NR_CPUS?arch=vax")).body.error.code).toBe("bad_arch");
    const opt = (await get<SymbolEntry>("/api/projects/kernel/revisions/v6.1.2/symbols/CC_OPTIMIZE_FOR_SIZE")).body;
    expect(opt.choice?.members).toEqual(["CC_OPTIMIZE_FOR_PERFORMANCE", "CC_OPTIMIZE_FOR_SIZE"]);
    expect(opt.menu).toEqual([["General setup", "Compiler optimization level"]]);
    const h = await get<SymbolHistory>("/api/projects/kernel/symbols/VIRTIO_CONSOLE/history");
    expect(h.body.first?.rev).toBe("v6.1.2");
  }, 120_000);
});
