import { expect, test } from "@playwright/test";
import { execFileSync } from "node:child_process";
import path from "node:path";
import { createPrinterFixtureRepo } from "../test/fixtures/presets";
import { kbsBin } from "../test/helpers/server";
import { portalServer, waitForScreen } from "./helpers";

// A Klipper user's flow on the Klipper-shaped fixture (recipe `klipper`): find the board by
// typing its name, start menuconfig from its preset with the board file beside it, build,
// and read how to flash it with the download named as the board expects.
// Generous: the fixture repo, its sync and the server start run in beforeAll on a loaded machine.
test.describe.configure({ mode: "serial", timeout: 300_000 });

const kbs = portalServer(({ scratch, dataDir }) => {
  const repo = createPrinterFixtureRepo(path.join(scratch, "printer"));
  const env = { ...process.env, KBS_DATA_DIR: dataDir, KBS_UPSTREAMS: "0", KBS_LOG_LEVEL: "warn" };
  execFileSync(process.execPath, [kbsBin, "project", "add", "printer", "--recipe", "klipper", "--url", repo.dir, "--name", "Fixture Klipper"], { env, stdio: "pipe" });
  execFileSync(process.execPath, [kbsBin, "sync", "printer"], { env, stdio: "pipe" });
});

test("search the revision's boards by name and start menuconfig from the preset; the side panel shows the board file", async ({ page }, info) => {
  test.setTimeout(240_000);
  await page.goto(kbs.url + "/?project=printer&rev=v1.0");
  const dialog = page.getByRole("dialog", { name: "Choose a project and revision" });
  await expect(dialog.getByText("Fixture Klipper @")).toBeVisible({ timeout: 60_000 });
  await dialog.getByRole("button", { name: "Start from a board…" }).click();
  const search = dialog.getByRole("combobox", { name: "Search boards" });
  await expect(search).toBeFocused();
  await search.fill("skr mini e3");
  const boards = dialog.getByRole("listbox", { name: "Boards" });
  await expect(boards.getByRole("option")).toHaveCount(1, { timeout: 60_000 });
  await expect(boards.getByRole("option").first()).toContainText("STM32G0B1");
  await expect(boards.getByRole("option").first()).toContainText("complete");
  await page.screenshot({ path: info.outputPath("chooser-board-search.png") });
  await search.press("Enter");
  const chosen = dialog.getByRole("region", { name: "Board preset" });
  await expect(chosen).toContainText("config/generic-skr-mini-e3-v3.cfg");
  await dialog.getByRole("button", { name: "Confirm" }).click();
  await page.waitForURL(/\/s\/[^/?]+/, { timeout: 120_000 });
  await waitForScreen(page, /Fixture printer firmware/, 120_000);
  // The preset's choices are what menuconfig shows.
  await waitForScreen(page, /STMicroelectronics STM32/);
  const panel = page.getByRole("region", { name: "Board preset" });
  await expect(panel).toContainText("config/generic-skr-mini-e3-v3.cfg");
  await expect(panel.getByLabel("Board file header")).toContainText('"8KiB bootloader" and USB communication');
  await expect(panel).toContainText("Every instruction in the header was matched");
  await page.screenshot({ path: info.outputPath("session-from-preset.png") });
});

test("a board whose header leaves a question: the chooser asks it, the answer shapes the config", async ({ page }) => {
  test.setTimeout(240_000);
  await page.goto(kbs.url + "/?project=printer&rev=v1.0");
  const dialog = page.getByRole("dialog", { name: "Choose a project and revision" });
  await expect(dialog.getByText("Fixture Klipper @")).toBeVisible({ timeout: 60_000 });
  await dialog.getByRole("button", { name: "Start from a board…" }).click();
  await dialog.getByRole("combobox", { name: "Search boards" }).fill("two chips");
  const option = dialog.getByRole("listbox", { name: "Boards" }).getByRole("option");
  await expect(option).toHaveCount(1, { timeout: 60_000 });
  await expect(option).toContainText("1 open question");
  await option.click();
  const question = dialog.getByRole("combobox", { name: /Which micro-controller is on the board/ });
  await question.selectOption("MACH_STM32F401");
  await dialog.getByRole("button", { name: "Confirm" }).click();
  await page.waitForURL(/\/s\/[^/?]+/, { timeout: 120_000 });
  await waitForScreen(page, /Fixture printer firmware/, 120_000);
  await page.getByRole("button", { name: "Save", exact: true }).click();
  const share = page.getByRole("link", { name: /Share link/ });
  await expect(share).toBeVisible({ timeout: 60_000 });
  const id = (await share.getAttribute("href"))!.split("/").pop()!;
  const text = await (await page.request.get(`${kbs.url}/api/configs/${id}/raw`)).text();
  expect(text).toContain("CONFIG_MACH_STM32F401=y");
  expect(text).toContain("CONFIG_STM32_FLASH_START_10000=y");
});

test("build from a session started from a preset and read how to flash it, with the download named as the board expects", async ({ page }, info) => {
  test.setTimeout(300_000);
  // Its own session (the first test's may have ended by now): preset, then a session on its config.
  const made = await page.request.post(`${kbs.url}/api/presets`, { data: { project: "printer", rev: "v1.0", preset: "generic-skr-mini-e3-v3" } });
  const { configId } = (await made.json()) as { configId: string };
  const started = await page.request.post(`${kbs.url}/api/sessions`, { data: { project: "printer", rev: "v1.0", configId } });
  const session = (await started.json()) as { id: string };
  await page.goto(`${kbs.url}/s/${session.id}?${new URLSearchParams({ project: "printer", rev: "v1.0", from: configId })}`);
  await waitForScreen(page, /Fixture printer firmware/, 120_000);
  await page.getByRole("button", { name: "Build", exact: true }).click();
  await page.waitForURL(/\/b\/[^/?]+/, { timeout: 120_000 });
  await expect(page.locator("[data-build-state]")).toHaveAttribute("data-build-state", "succeeded", { timeout: 240_000 });
  const flash = page.getByRole("region", { name: "How to flash" });
  await expect(flash).toContainText("config/generic-skr-mini-e3-v3.cfg", { timeout: 60_000 });
  await expect(flash).toContainText('a file named "firmware.bin" on an SD card');
  const [download] = await Promise.all([page.waitForEvent("download"), flash.getByRole("link", { name: /Download firmware\.bin/ }).click()]);
  expect(download.suggestedFilename()).toBe("firmware.bin");
  await page.screenshot({ path: info.outputPath("build-flash.png"), fullPage: true });
});

test("a config of an older revision says a newer one exists and what upgrading changes; Upgrade opens the upgraded config", async ({ page }) => {
  test.setTimeout(180_000);
  const saved = await page.request.post(`${kbs.url}/api/configs`, { data: { project: "printer", rev: "v1.0", text: "CONFIG_MACH_STM32=y\nCONFIG_MACH_STM32F103=y\n" } });
  const { id } = (await saved.json()) as { id: string };
  await page.goto(`${kbs.url}/c/${id}`);
  const notice = page.getByRole("region", { name: /A newer revision exists/ });
  await expect(notice).toContainText("v1.1", { timeout: 60_000 });
  const changes = notice.getByRole("list", { name: "What the upgrade changes" });
  await expect(changes).toContainText("+ USB_SERIAL_NUMBER_CHIPID=y");
  await expect(changes).toContainText("− HAVE_GPIO_BITBANGING=y");
  await expect(changes).toContainText("~ CLOCK_FREQ: 72000000 → 48000000");
  await notice.getByRole("button", { name: "Upgrade" }).click();
  await page.waitForURL((u) => /\/c\/[0-9a-f]{64}/.test(u.pathname) && !u.pathname.endsWith(id), { timeout: 60_000 });
  await expect(page.getByRole("heading", { level: 1 })).toContainText("v1.1");
});

test("a printer profile page builds every part and shows each part's flash guidance", async ({ page }, info) => {
  test.setTimeout(300_000);
  const preset = await page.request.post(`${kbs.url}/api/presets`, { data: { project: "printer", rev: "v1.0", preset: "generic-skr-mini-e3-v3" } });
  const main = ((await preset.json()) as { configId: string }).configId;
  const hostSaved = await page.request.post(`${kbs.url}/api/configs`, { data: { project: "printer", rev: "v1.0", text: "CONFIG_MACH_LINUX=y\n" } });
  const host = ((await hostSaved.json()) as { id: string }).id;
  const made = await page.request.post(`${kbs.url}/api/printers`, { data: { name: "Fixture printer", parts: [{ role: "main", configId: main }, { role: "host", configId: host }] } });
  const { id } = (await made.json()) as { id: string };
  await page.goto(`${kbs.url}/p/${id}`);
  await expect(page.getByRole("heading", { name: "Fixture printer" })).toBeVisible();
  await page.getByRole("button", { name: "Build all" }).click();
  for (const role of ["main", "host"]) {
    const part = page.getByRole("region", { name: `Part ${role}` });
    await expect(part.locator("[data-part-build]")).toHaveAttribute("data-part-build", "succeeded", { timeout: 240_000 });
    await expect(part.getByRole("region", { name: "How to flash" })).toBeVisible({ timeout: 60_000 });
  }
  await expect(page.getByRole("region", { name: "Part main" }).getByRole("link", { name: /Download firmware\.bin/ })).toBeVisible();
  await expect(page.getByRole("region", { name: "Part host" })).toContainText("klipper_mcu");
  await page.screenshot({ path: info.outputPath("printer.png"), fullPage: true });
});
