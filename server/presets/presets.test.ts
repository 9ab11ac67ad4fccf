import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addFixtureProject } from "../../test/fixtures/builds";
import { api, buildTestEnv, saveConfig, waitBuild } from "../../test/helpers/builds";
import { kbsBin, startKbs, type KbsProcess } from "../../test/helpers/server";
import { kbsCli, metric } from "../../test/helpers/sessions";
import { tmpDir } from "../../test/helpers/tmp";
import { createPrinterFixtureRepo, type PrinterFixture } from "../../test/fixtures/presets";

/**
 * Board presets on the Klipper-shaped fixture, through the real server: extraction and
 * matching in a bwrap sandbox with the tree's own Kconfiglib, configs stored as any saved
 * config, hostile board files parsed as text.
 */
type Summary = { id: string; title: string; file: string; mcu: string | null; complete: boolean; questions: Array<{ id: string; kind: string; text: string; options: Array<{ symbol: string }> }> };

let kbs: KbsProcess;
let fx: PrinterFixture;
let marker: string;
let dataDir: string;
const list = (rev: string, q = "") => api<Summary[]>(kbs.url, "GET", `/api/projects/printer/revisions/${rev}/presets${q ? `?q=${encodeURIComponent(q)}` : ""}`);
const configText = async (id: string) => (await fetch(`${kbs.url}/api/configs/${id}/raw`)).text();

beforeAll(async () => {
  dataDir = tmpDir();
  const work = tmpDir();
  marker = path.join(work, "hostile-header-ran");
  fx = createPrinterFixtureRepo(path.join(work, "printer"), { hostileMarker: marker });
  const env = { ...buildTestEnv, KBS_DATA_DIR: dataDir };
  await addFixtureProject(env, "printer", fx.dir, "klipper");
  await addFixtureProject(env, "plain", fx.dir, "kconfiglib");
  kbs = await startKbs({ dataDir, env: buildTestEnv, withNext: false });
}, 180_000);

afterAll(async () => {
  await kbs?.stop();
});

describe("board presets (recipe presets, GET .../presets, POST /api/presets)", () => {
  it("lists one preset per board file with instructions, each complete or with the expected questions", async () => {
    const r = await list("v1.0");
    expect(r.status).toBe(200);
    expect(r.body.map((p) => p.id).sort()).toEqual(Object.keys(fx.expected).sort());
    for (const p of r.body) {
      const want = fx.expected[p.id]!;
      expect(p.file).toBe(`config/${p.id}.cfg`);
      if (want.complete) {
        expect({ id: p.id, complete: p.complete, mcu: p.mcu, questions: p.questions }).toEqual({ id: p.id, complete: true, mcu: want.mcu, questions: [] });
      } else {
        expect({ id: p.id, complete: p.complete, kinds: p.questions.map((q) => q.kind) }).toEqual({ id: p.id, complete: false, kinds: want.kinds });
      }
    }
    const twoChips = r.body.find((p) => p.id === "printer-two-chips-2021")!;
    expect(twoChips.questions[0]!.options.map((o) => o.symbol)).toEqual(["MACH_STM32F103", "MACH_STM32F401"]);
    const canbus = r.body.find((p) => p.id === "sample-canbus-toolhead")!;
    expect(canbus.questions[0]!.options.map((o) => o.symbol)).toEqual(["STM32_USB_PA11_PA12", "STM32_CANBUS_PB8_PB9"]);
  });

  it("searches by words of the board name or micro-controller", async () => {
    expect((await list("v1.0", "skr mini e3")).body.map((p) => p.id)).toEqual(["generic-skr-mini-e3-v3"]);
    expect((await list("v1.0", "stm32f401")).body.map((p) => p.id).sort()).toEqual(["generic-robin-nano-v3", "generic-s6-like", "printer-list-style-2021"]);
    expect((await list("v1.0", "no such board")).body).toEqual([]);
  });

  it("extracts once per distinct kconfig tree and board files (the second list and the next revision with the same boards are cached)", async () => {
    const before = await metric(kbs.url, "kbs_preset_extract_seconds_count");
    await list("v1.0");
    await list("v1.0", "pico");
    expect(await metric(kbs.url, "kbs_preset_extract_seconds_count")).toBe(before);
  });

  it("makes the expected config from every complete preset, and says where it came from", async () => {
    for (const [id, want] of Object.entries(fx.expected)) {
      if (!want.complete) continue;
      const r = await api<{ configId: string; complete: boolean }>(kbs.url, "POST", "/api/presets", { project: "printer", rev: "v1.0", preset: id });
      expect([200, 201]).toContain(r.status);
      expect(r.body.complete).toBe(true);
      const text = await configText(r.body.configId);
      for (const sym of want.set) expect(text, `${id}: ${sym}`).toContain(`CONFIG_${sym}=y\n`);
    }
    const r = await api<{ configId: string }>(kbs.url, "POST", "/api/presets", { project: "printer", rev: "v1.0", preset: "generic-skr-mini-e3-v3" });
    const origin = await api<{ file: string; header: string; flash: { lines: string[]; saveAs: string } }>(kbs.url, "GET", `/api/configs/${r.body.configId}/preset`);
    expect(origin.body.file).toBe("config/generic-skr-mini-e3-v3.cfg");
    expect(origin.body.header).toContain('STM32G0B1 with a\n# "8KiB bootloader"');
    expect(origin.body.flash.saveAs).toBe("firmware.bin");
  }, 180_000);

  it("answers settle the open questions: the micro-controller picks its own phrases; an alternative picks its interface", async () => {
    const chips = (await list("v1.0", "two chips")).body[0]!;
    const f401 = await api<{ configId: string; complete: boolean }>(kbs.url, "POST", "/api/presets", { project: "printer", rev: "v1.0", preset: chips.id, answers: { [chips.questions[0]!.id]: "MACH_STM32F401" } });
    expect(f401.body.complete).toBe(true);
    const text = await configText(f401.body.configId);
    expect(text).toContain("CONFIG_MACH_STM32F401=y\n");
    expect(text).toContain("CONFIG_STM32_FLASH_START_10000=y\n");
    expect(text).toContain("CONFIG_STM32_SERIAL_USART1=y\n");

    const can = (await list("v1.0", "canbus")).body[0]!;
    const r = await api<{ configId: string; complete: boolean }>(kbs.url, "POST", "/api/presets", { project: "printer", rev: "v1.0", preset: can.id, answers: { [can.questions[0]!.id]: "STM32_CANBUS_PB8_PB9" } });
    expect(r.body.complete).toBe(true);
    const canText = await configText(r.body.configId);
    expect(canText).toContain("CONFIG_STM32_CANBUS_PB8_PB9=y\n");
    expect(canText).toContain("CONFIG_STM32_CLOCK_REF_8M=y\n");

    // An unanswered question leaves the config at the tree's defaults for it, and says so.
    const open = await api<{ complete: boolean; questions: unknown[] }>(kbs.url, "POST", "/api/presets", { project: "printer", rev: "v1.0", preset: "generic-missing-phrase" });
    expect(open.body.complete).toBe(false);
    expect(open.body.questions).toHaveLength(1);
  }, 180_000);

  it("refuses an unknown preset, an answer that is not an option, and a project without presets, saying what to do", async () => {
    const unknown = await api<{ error: { code: string; message: string } }>(kbs.url, "POST", "/api/presets", { project: "printer", rev: "v1.0", preset: "generic-skr-mini" });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe("unknown_preset");
    expect(unknown.body.error.message).toContain("generic-skr-mini-e3-v3");
    const chips = (await list("v1.0", "two chips")).body[0]!;
    const bad = await api<{ error: { code: string; message: string } }>(kbs.url, "POST", "/api/presets", { project: "printer", rev: "v1.0", preset: chips.id, answers: { [chips.questions[0]!.id]: "MACH_atmega2560" } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe("bad_answer");
    const plain = await api<{ error: { code: string } }>(kbs.url, "GET", "/api/projects/plain/revisions/v1.0/presets");
    expect(plain.status).toBe(404);
    expect(plain.body.error.code).toBe("no_presets");
    const rev = await api<{ error: { code: string } }>(kbs.url, "GET", "/api/projects/printer/revisions/v9.9/presets");
    expect(rev.status).toBe(404);
  });

  it("reads hostile board files (huge, binary, $(shell) lookalikes) as text in the sandbox; nothing in them runs", async () => {
    const r = await list("hostile");
    expect(r.status).toBe(200);
    const byId = new Map(r.body.map((p) => [p.id, p]));
    // The good boards are still there.
    expect(byId.get("generic-skr-mini-e3-v3")?.complete).toBe(true);
    const shell = byId.get("hostile-shell")!;
    expect(shell.mcu).toBe("STM32F103");
    expect(shell.questions.map((q) => q.text).join("\n")).toContain("$(shell,touch");
    const huge = await api<{ header: string }>(kbs.url, "GET", "/api/projects/printer/revisions/hostile/presets/hostile-huge");
    expect(huge.status, JSON.stringify(huge.body).slice(0, 300)).toBe(200);
    expect(huge.body.header.length).toBeLessThanOrEqual(16 * 1024);
    expect(byId.get("hostile-binary")?.mcu).toBe("STM32F103");
    const made = await api<{ configId: string }>(kbs.url, "POST", "/api/presets", { project: "printer", rev: "hostile", preset: "hostile-shell" });
    expect(made.status).toBe(201);
    expect(fs.existsSync(marker)).toBe(false);
  }, 180_000);
});

describe("flash guidance (GET /api/builds/:id/flash)", () => {
  const build = async (configId: string) => {
    const r = await api<{ id: string }>(kbs.url, "POST", "/api/builds", { project: "printer", rev: "v1.0", configId });
    expect([200, 201]).toContain(r.status);
    const done = await waitBuild(kbs.url, r.body.id);
    expect(done.state, done.errorSummary ?? "").toBe("succeeded");
    return r.body.id;
  };
  type Guidance = { source: string; board?: { file: string }; text: string[]; commands: string[]; downloads: Array<{ artifact: string; saveAs: string; url: string }> };

  it("a build from a preset gets the board file's own lines and downloads as the board expects", async () => {
    const made = await api<{ configId: string }>(kbs.url, "POST", "/api/presets", { project: "printer", rev: "v1.0", preset: "generic-robin-nano-v3" });
    const id = await build(made.body.configId);
    const g = (await api<Guidance>(kbs.url, "GET", `/api/builds/${id}/flash`)).body;
    expect(g.source).toBe("board");
    expect(g.board?.file).toBe("config/generic-robin-nano-v3.cfg");
    expect(g.text.join(" ")).toContain('"Robin_nano_v3.bin" on an SD card');
    expect(g.downloads.map((d) => [d.artifact, d.saveAs])).toEqual([["klipper.bin", "Robin_nano_v3.bin"]]);
    const res = await fetch(kbs.url + g.downloads[0]!.url);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-disposition")).toBe('attachment; filename="Robin_nano_v3.bin"');
  }, 180_000);

  it("a build from any other config gets guidance by architecture with the config's values filled in", async () => {
    const stm32 = await saveConfig(kbs.url, "printer", "v1.0", "CONFIG_MACH_STM32=y\nCONFIG_MACH_STM32F103=y\nCONFIG_STM32_FLASH_START_7000=y\n");
    const g = (await api<Guidance>(kbs.url, "GET", `/api/builds/${await build(stm32)}/flash`)).body;
    expect(g.source).toBe("config");
    expect(g.commands).toContain("dfu-util -a 0 -d 0483:df11 --dfuse-address 0x8007000:leave -D out/klipper.bin");
    expect(g.downloads.map((d) => d.saveAs)).toEqual(["firmware.bin"]);

    const avr = await saveConfig(kbs.url, "printer", "v1.0", "CONFIG_MACH_AVR=y\nCONFIG_MACH_atmega1284p=y\n");
    const a = (await api<Guidance>(kbs.url, "GET", `/api/builds/${await build(avr)}/flash`)).body;
    expect(a.commands.join("\n")).toContain("avrdude -patmega1284p");
    expect(a.text.join(" ")).toContain("for the atmega1284p");
  }, 240_000);
});

describe("config upgrade (POST /api/configs/:id/upgrade, GET /api/configs/:id/latest, kbs config upgrade)", () => {
  type Report = { configId: string; to: { describe: string; commit: string }; new: Array<{ symbol: string; value: string; prompt: string | null }>; removed: Array<{ symbol: string; value: string }>; changed: Array<{ symbol: string; from: string; to: string }> };
  const f103 = "CONFIG_MACH_STM32=y\nCONFIG_MACH_STM32F103=y\nCONFIG_STM32_FLASH_START_7000=y\n";

  it("reports exactly the new, removed and changed symbols across the two fixture revisions, and stores the upgraded config", async () => {
    const id = await saveConfig(kbs.url, "printer", "v1.0", f103);
    const r = await api<Report>(kbs.url, "POST", `/api/configs/${id}/upgrade`, { rev: "v1.1" });
    expect(r.status).toBe(201);
    expect(r.body.new).toEqual([{ symbol: "USB_SERIAL_NUMBER_CHIPID", value: "y", prompt: "Use the chip id as the USB serial number" }]);
    expect(r.body.removed).toEqual([{ symbol: "HAVE_GPIO_BITBANGING", value: "y" }]);
    expect(r.body.changed).toEqual([{ symbol: "CLOCK_FREQ", from: "72000000", to: "48000000" }]);
    expect({ new: r.body.new.map((s) => s.symbol), removed: r.body.removed.map((s) => s.symbol), changed: r.body.changed.map((s) => s.symbol) }).toEqual(fx.upgrade);
    const up = await api<{ describe: string; text: string }>(kbs.url, "GET", `/api/configs/${r.body.configId}`);
    expect(up.body.describe).toBe("v1.1");
    expect(up.body.text).toContain("CONFIG_STM32_FLASH_START_7000=y");
    expect(up.body.text).toContain("CONFIG_USB_SERIAL_NUMBER_CHIPID=y");
  }, 180_000);

  it("says when the branch has moved on and what the upgrade would change; nothing at the head", async () => {
    const id = await saveConfig(kbs.url, "printer", "v1.0", f103);
    const l = await api<Report & { latest: { branch: string; describe: string } | null }>(kbs.url, "GET", `/api/configs/${id}/latest`);
    expect(l.body.latest).toMatchObject({ branch: "master", describe: "v1.1" });
    expect(l.body.new.map((s) => s.symbol)).toEqual(fx.upgrade.new);
    const head = await saveConfig(kbs.url, "printer", "v1.1", f103);
    expect((await api<{ latest: unknown }>(kbs.url, "GET", `/api/configs/${head}/latest`)).body.latest).toBeNull();
  });

  it("refuses an unknown revision, over the API and from the command line, with a message and no stack trace", async () => {
    const id = await saveConfig(kbs.url, "printer", "v1.0", f103);
    const r = await api<{ error: { code: string; message: string } }>(kbs.url, "POST", `/api/configs/${id}/upgrade`, { rev: "v9.9" });
    expect(r.status).toBe(404);
    expect(r.body.error.code).toBe("unknown_revision");
    const cli = spawnSync(process.execPath, [kbsBin, "config", "upgrade", id, "v9.9"], { env: { ...process.env, ...buildTestEnv, KBS_DATA_DIR: dataDir }, encoding: "utf8" });
    expect(cli.status).toBe(2);
    expect(cli.stderr).toContain("has no revision 'v9.9'");
    expect(cli.stderr).not.toMatch(/\n\s+at /);
    const ok = kbsCli(dataDir, ["config", "upgrade", id, "v1.1"]);
    expect(ok).toContain("new      USB_SERIAL_NUMBER_CHIPID=y  (Use the chip id as the USB serial number)");
    expect(ok).toContain("removed  HAVE_GPIO_BITBANGING=y");
    expect(ok).toContain("changed  CLOCK_FREQ: 72000000 -> 48000000");
  }, 180_000);
});

describe("printer profiles (POST /api/printers, GET /api/printers/:id, Build all, Upgrade all)", () => {
  type PrinterView = { id: string; name: string; project: string; parts: Array<{ role: string; configId: string; describe: string; board: { file: string } | null; lastBuild: { id: string; state: string } | null; flash: { source: string; commands: string[]; downloads: Array<{ saveAs: string }> } | null }> };
  const preset = async (id: string, answers?: Record<string, string>) => (await api<{ configId: string }>(kbs.url, "POST", "/api/presets", { project: "printer", rev: "v1.0", preset: id, answers })).body.configId;

  it("keeps a printer's MCUs together: Build all builds every part, and each part gets its flash guidance", async () => {
    const main = await preset("generic-skr-mini-e3-v3");
    const can = (await list("v1.0", "canbus")).body[0]!;
    const toolhead = await preset(can.id, { [can.questions[0]!.id]: "STM32_CANBUS_PB8_PB9" });
    const host = await saveConfig(kbs.url, "printer", "v1.0", "CONFIG_MACH_LINUX=y\n");
    const made = await api<{ id: string }>(kbs.url, "POST", "/api/printers", { name: "Fixture printer", parts: [{ role: "main", configId: main }, { role: "toolhead", configId: toolhead }, { role: "host", configId: host }] });
    expect(made.status).toBe(201);
    const id = made.body.id;

    const built = await api<{ builds: Array<{ role: string; id: string }> }>(kbs.url, "POST", `/api/printers/${id}/build`, {});
    expect(built.body.builds.map((b) => b.role)).toEqual(["main", "toolhead", "host"]);
    for (const b of built.body.builds) expect((await waitBuild(kbs.url, b.id)).state, b.role).toBe("succeeded");

    const p = (await api<PrinterView>(kbs.url, "GET", `/api/printers/${id}`)).body;
    expect(p.project).toBe("printer");
    const byRole = new Map(p.parts.map((x) => [x.role, x]));
    for (const x of p.parts) expect(x.lastBuild?.state, x.role).toBe("succeeded");
    expect(byRole.get("main")!.board?.file).toBe("config/generic-skr-mini-e3-v3.cfg");
    expect(byRole.get("main")!.flash?.source).toBe("board");
    expect(byRole.get("main")!.flash?.downloads.map((d) => d.saveAs)).toEqual(["firmware.bin"]);
    expect(byRole.get("host")!.flash?.commands.join("\n")).toContain("klipper_mcu");
  }, 300_000);

  it("Upgrade all makes a new profile of every part on the newer revision", async () => {
    const main = await preset("generic-skr-mini-e3-v3");
    const host = await saveConfig(kbs.url, "printer", "v1.0", "CONFIG_MACH_LINUX=y\n");
    const id = (await api<{ id: string }>(kbs.url, "POST", "/api/printers", { name: "Upgrade me", parts: [{ role: "main", configId: main }, { role: "host", configId: host }] })).body.id;
    const up = await api<{ id: string; parts: Array<{ role: string; from: string; to: string; new: Array<{ symbol: string }> }> }>(kbs.url, "POST", `/api/printers/${id}/upgrade`, {});
    expect(up.status).toBe(201);
    expect(up.body.id).not.toBe(id);
    expect(up.body.parts.map((x) => [x.role, x.from, x.to])).toEqual([
      ["main", "v1.0", "v1.1"],
      ["host", "v1.0", "v1.1"],
    ]);
    expect(up.body.parts[0]!.new.map((s) => s.symbol)).toEqual(["USB_SERIAL_NUMBER_CHIPID"]);
    const p = (await api<PrinterView & { upgradedFrom: string }>(kbs.url, "GET", `/api/printers/${up.body.id}`)).body;
    expect(p.upgradedFrom).toBe(id);
    expect(p.parts.map((x) => x.describe)).toEqual(["v1.1", "v1.1"]);
  }, 180_000);

  it("refuses a profile naming a config of another project, an unknown config, and says what an unknown profile is", async () => {
    const main = await preset("generic-skr-mini-e3-v3");
    const other = await saveConfig(kbs.url, "plain", "v1.0", "CONFIG_MACH_AVR=y\n");
    const mixed = await api<{ error: { code: string; message: string } }>(kbs.url, "POST", "/api/printers", { name: "Mixed", parts: [{ role: "main", configId: main }, { role: "toolhead", configId: other }] });
    expect(mixed.status).toBe(400);
    expect(mixed.body.error.code).toBe("config_project_mismatch");
    expect(mixed.body.error.message).toContain("'toolhead'");
    const missing = await api<{ error: { code: string } }>(kbs.url, "POST", "/api/printers", { name: "Missing", parts: [{ role: "main", configId: "0".repeat(64) }] });
    expect(missing.status).toBe(404);
    expect((await api<{ error: { code: string } }>(kbs.url, "GET", `/api/printers/${"f".repeat(32)}`)).body.error.code).toBe("unknown_printer");
    expect((await api(kbs.url, "POST", "/api/printers", { name: "", parts: [] })).status).toBe(400);
  });
});
