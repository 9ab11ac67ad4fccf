import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startKbs, type KbsProcess } from "./helpers/server";
import { addSessionProjects, enableDebugAndSave, newSession, post } from "./helpers/sessions";
import { TerminalClient } from "./helpers/terminal";
import { tmpDir } from "./helpers/tmp";

/**
 * Configs as the tree's own tools write them, through a real `kbs serve`: a session
 * saves menuconfig's file (Kconfig order, menu comments, the tree's header) and that is
 * what downloads serve; the id still covers the canonical form. A kernel session runs
 * with the KERNELVERSION and CC_VERSION_TEXT the tree's Makefile gives a local
 * `make menuconfig`, so its config comes through a local `make olddefconfig` unchanged.
 */

const raw = async (url: string, id: string, form?: string) => (await fetch(`${url}/api/configs/${id}/raw${form ? `?form=${form}` : ""}`)).text();

describe("configs as the tree writes them", () => {
  let kbs: KbsProcess;
  let url: string;
  let work: string;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = tmpDir();
    work = tmpDir();
    await addSessionProjects(dataDir, work);
    kbs = await startKbs({ dataDir, withNext: false, env: { KBS_POOL_SIZE: "1", KBS_BUILTINS: "0", KBS_BUILD_WORKERS: "0" } });
    url = kbs.url;
    // Syncing three projects builds the kernel tree's tools (its newest tags): slow on a loaded machine.
  }, 300_000);
  afterAll(async () => {
    await kbs?.stop();
  });

  it("`kbs sync` built the tree's own mconf for its newest tags, before any session", async () => {
    for (const rev of ["v6.1.1", "v6.1.2"]) {
      const { kconfigHash } = (await (await fetch(`${url}/api/projects/kern/revisions/${rev}`)).json()) as { kconfigHash: string };
      const tools = JSON.parse(fs.readFileSync(path.join(dataDir, "kconfig-bin", kconfigHash, "tools.json"), "utf8")) as { mconf: boolean; env: Record<string, string> };
      expect(tools).toMatchObject({ mconf: true, env: { KERNELVERSION: rev.slice(1) } });
    }
  });

  it("a kernel session's saved config round-trips through a local `make olddefconfig` of the same tree unchanged", { timeout: 180_000 }, async () => {
    const s = await newSession(url, { project: "kern", rev: "v6.1.1" });
    const c = await TerminalClient.connect(url, s.wsPath, { cols: 100, rows: 30 });
    // KERNELVERSION from the tree's Makefile: mconf's title says the version, as locally.
    await c.untilText("Fake Linux/x86_64 6.1.1 Kernel Configuration");
    // Leave with Esc Esc and save (Yes is the default button): mconf writes .config.
    c.type("\x1b\x1b");
    await c.untilText(/save your new configuration/i);
    c.type("\r");
    const saved = await c.untilMessage("saved");
    await c.untilMessage("exit");
    const id = String(saved.configId);

    const written = await raw(url, id);
    expect(written).toMatch(/^#\n# Automatically generated file; DO NOT EDIT\.\n# Fake Linux\/x86_64 6\.1\.1 Kernel Configuration\n#\n/);
    expect(written).toContain("\n#\n# General setup\n#\n");
    const gcc = execFileSync("gcc", ["--version"], { encoding: "utf8" }).split("\n")[0];
    expect(written).toContain(`CONFIG_CC_VERSION_TEXT="${gcc}"\n`);

    // The id covers the canonical form: sorted, no comments.
    const stored = (await (await fetch(`${url}/api/configs/${id}`)).json()) as { text: string; written: string };
    expect(stored.written).toBe(written);
    expect(stored.text).not.toContain("#\n#");
    expect(await raw(url, id, "canonical")).toBe(stored.text);

    // A maintainer's checkout of the same commit: a local olddefconfig leaves it byte for byte.
    const checkout = path.join(tmpDir(), "linux");
    execFileSync("git", ["clone", "-q", "--branch", "v6.1.1", path.join(work, "kern"), checkout], { stdio: "pipe" });
    fs.writeFileSync(path.join(checkout, ".config"), written);
    execFileSync("make", ["-s", "olddefconfig"], { cwd: checkout, stdio: "pipe" });
    expect(fs.readFileSync(path.join(checkout, ".config"), "utf8")).toBe(written);
  });

  it("a Kconfiglib session serves menuconfig's own file: Kconfig order and menu comments", async () => {
    const s = await newSession(url, { project: "fw", rev: "v0.2.0" });
    const c = await TerminalClient.connect(url, s.wsPath);
    const saved = await enableDebugAndSave(c);
    const written = await raw(url, String(saved.configId));
    expect(written).toContain("\n#\n# Optional features\n#\n");
    expect(written).toContain("# end of Optional features\n");
    expect(written).toContain("CONFIG_ENABLE_DEBUG=y");
    // Kconfig order: the architecture choice comes before the debug option, not sorted by name.
    const lines = written.split("\n").filter((l) => l.startsWith("CONFIG_") || l.startsWith("# CONFIG_"));
    expect(lines).not.toEqual([...lines].sort());
    c.close();
  });

  it("an uploaded config is served as the tree's olddefconfig writes it; its id stays that of the upload", async () => {
    const text = "CONFIG_ENABLE_DEBUG=y\n";
    const r = await post(`${url}/api/configs`, { project: "fw", rev: "v0.2.0", text });
    expect(r.status).toBe(201);
    const id = String(r.json.id);
    const written = await raw(url, id);
    expect(written).toContain("\n#\n# Optional features\n#\n");
    expect(written).toContain("CONFIG_ENABLE_DEBUG=y");
    expect(written).toContain("CONFIG_BLINK_PERIOD_MS=");
    expect(await raw(url, id, "canonical")).toBe(text);
    // Computed once and kept: the same text again, and the same id for the same upload.
    expect(await raw(url, id)).toBe(written);
    expect((await post(`${url}/api/configs`, { project: "fw", rev: "v0.2.0", text })).json.id).toBe(id);
  });
});
