import { expect, test, type Page } from "@playwright/test";
import crypto from "node:crypto";
import fs from "node:fs";
import { terminalText as screen, portalServer, waitForScreen } from "./helpers";

// The whole user journey on the built-in `demo` project (imported at first start):
// chooser by keyboard -> menuconfig -> toggle, save -> share page -> reopen -> reconnect
// -> build -> artifact download. One server, steps in order, state carried between them.
test.describe.configure({ mode: "serial" });

const kbs = portalServer();
let sessionUrl: string;
let shareUrl: string;
let buildUrl: string;

const title = "kbs demo firmware configuration";

/** The menu entries kconfiglib's menuconfig draws below "(Top)", in order. */
function menuEntries(text: string): string[] {
  const lines = text.split("\n");
  const top = lines.findIndex((l) => l.trim() === "(Top)");
  expect(top, `no "(Top)" line in the terminal:\n${text}`).toBeGreaterThanOrEqual(0);
  const entries: string[] = [];
  for (const line of lines.slice(top + 1)) {
    if (!line.trim() || line.trim() === title) continue;
    if (/^[\s─━-]+$/.test(line) || /\[Space\/Enter\]|Toggle\/enter/.test(line)) break;
    entries.push(line.trim());
  }
  return entries;
}

/** Move the menuconfig cursor from the first entry to the entry matching `name` and toggle it. */
async function toggleEntry(page: Page, name: RegExp) {
  const entries = menuEntries(await screen(page));
  const at = entries.findIndex((e) => name.test(e));
  expect(at, `no entry ${name} in ${JSON.stringify(entries)}`).toBeGreaterThan(0);
  await page.locator(".xterm").click();
  for (let i = 0; i < at; i++) await page.keyboard.press("ArrowDown");
  await page.keyboard.press("Space");
}

test("choose project and revision by keyboard; menuconfig shows the project's title", async ({ page }, info) => {
  await page.goto(kbs.url + "/");
  const dialog = page.getByRole("dialog", { name: "Choose a project and revision" });
  await expect(dialog).toBeVisible();
  const projects = dialog.getByRole("listbox", { name: "Projects" });
  await expect(projects).toBeFocused();
  await expect(projects.getByRole("option", { name: /kbs demo firmware/ })).toBeVisible();
  await page.keyboard.press("ArrowDown");
  await expect(projects.getByRole("option", { name: /kbs demo firmware/ })).toHaveAttribute("aria-selected", "true");
  await page.keyboard.press("Enter");
  const search = dialog.getByRole("combobox", { name: "Search revisions" });
  await expect(search).toBeFocused();
  await page.keyboard.type("v1");
  await expect(dialog.getByRole("option", { name: /^v1/ })).toBeVisible();
  await page.screenshot({ path: info.outputPath("chooser.png") });
  await page.keyboard.press("Enter");
  await expect(dialog.getByRole("button", { name: "Confirm" })).toBeFocused();
  await page.keyboard.press("Enter");

  await page.waitForURL(/\/s\/[^/?]+/);
  sessionUrl = page.url();
  await waitForScreen(page, new RegExp(title));
  await expect(page.getByRole("status").filter({ hasText: "connected" })).toBeVisible();
  // The terminal's frame had its size before xterm loaded: nothing moved when it mounted.
  const shift = await page.evaluate(
    () =>
      new Promise<number>((resolve) => {
        type Shift = PerformanceEntry & { value: number; hadRecentInput: boolean };
        new PerformanceObserver((list) => resolve((list.getEntries() as Shift[]).filter((e) => !e.hadRecentInput).reduce((a, e) => a + e.value, 0))).observe({ type: "layout-shift", buffered: true });
        setTimeout(() => resolve(0), 500);
      }),
  );
  expect(shift).toBeLessThan(0.01);
  await page.screenshot({ path: info.outputPath("session.png") });
});

test("toggle a symbol with space, save: the side panel shows the change", async ({ page }, info) => {
  // The first test's page was closed, and leaving the page ends its session: this one starts its own from a deep link.
  await page.goto(`${kbs.url}/?${new URL(sessionUrl).searchParams}`);
  const confirm = page.getByRole("dialog", { name: "Choose a project and revision" }).getByRole("button", { name: "Confirm" });
  await expect(confirm).toBeFocused();
  await page.keyboard.press("Enter");
  await page.waitForURL(/\/s\/[^/?]+/);
  await waitForScreen(page, /\[ \] Debug messages/);
  await toggleEntry(page, /Debug messages/);
  await waitForScreen(page, /\[\*\] Debug messages/);
  // menuconfig's own save: S, accept the file name, dismiss the message; kbs stores each write.
  await page.keyboard.press("S");
  await waitForScreen(page, /Filename to save/);
  await page.keyboard.press("Enter");
  await waitForScreen(page, /saved to/i);
  await page.keyboard.press("Enter");
  const panel = page.getByRole("complementary", { name: "Changed symbols panel" });
  const row = panel.locator('[data-symbol="ENABLE_DEBUG"]');
  await expect(row).toBeVisible({ timeout: 60_000 });
  await expect(row).toContainText("= y");
  await expect(row).toContainText("default n");
  await panel.getByRole("searchbox", { name: "Filter changed symbols" }).fill("serial");
  await expect(row).toBeHidden();
  await panel.getByRole("searchbox", { name: "Filter changed symbols" }).fill("debug");
  await expect(row).toBeVisible();
  await page.screenshot({ path: info.outputPath("session-saved.png") });

  // F6 leaves the terminal for the toolbar and comes back (menuconfig keeps Tab and Esc).
  await page.locator(".xterm").click();
  await page.keyboard.press("F6");
  await expect(page.getByRole("button", { name: "Save", exact: true })).toBeFocused();
  await page.keyboard.press("F6");
  await expect(page.getByRole("textbox", { name: "Terminal input" })).toBeFocused();

  // The toolbar's downloads and share link act on that save.
  const [config] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Download .config" }).click()]);
  expect(fs.readFileSync(await config.path(), "utf8")).toContain("CONFIG_ENABLE_DEBUG=y");
  const [defconfig] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Download defconfig" }).click()]);
  expect(fs.readFileSync(await defconfig.path(), "utf8").trim()).toBe("CONFIG_ENABLE_DEBUG=y");
  await page.context().grantPermissions(["clipboard-read", "clipboard-write"]);
  await page.getByRole("button", { name: "Copy share link" }).click();
  await expect(page.getByText("Share link copied.")).toBeVisible();
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  expect(copied).toMatch(/\/c\/[0-9a-f]{64}$/);

  const [share] = await Promise.all([page.context().waitForEvent("page"), panel.getByRole("link", { name: /Share link/ }).click()]);
  await share.waitForLoadState();
  shareUrl = share.url();
  expect(shareUrl).toBe(copied);
  const table = share.getByRole("table", { name: "Changed symbols" });
  await expect(table.locator('[data-symbol="ENABLE_DEBUG"]')).toContainText("y");
  await expect(share.locator('[data-diff][data-diff="changed"]').filter({ hasText: "ENABLE_DEBUG" })).toBeVisible();
  await expect(share.locator("#full-config")).toContainText("CONFIG_ENABLE_DEBUG=y");
  await expect(share.locator("#min-config")).toContainText("CONFIG_ENABLE_DEBUG=y");
  await share.screenshot({ path: info.outputPath("config.png"), fullPage: true });
});

test("the shared config page is readable without JavaScript, diff against another config included", async ({ browser, request }, info) => {
  const other = await request.post(kbs.url + "/api/configs", { data: { project: "demo", rev: "v1", text: "CONFIG_ARCH_HOST=y\nCONFIG_FEATURE_FAN=y\nCONFIG_FAN_COUNT=2\n" } });
  expect(other.ok()).toBe(true);
  const otherId = ((await other.json()) as { id: string }).id;
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await page.goto(shareUrl);
  await expect(page.getByRole("heading", { level: 1 })).toContainText("demo");
  await expect(page.getByRole("table", { name: "Changed symbols" }).locator('[data-symbol="ENABLE_DEBUG"]')).toBeVisible();
  await expect(page.locator("#full-config")).toContainText("CONFIG_ENABLE_DEBUG=y");
  // The compare form is a plain GET form: the server renders the diff.
  await page.getByRole("textbox", { name: "Compare with config id" }).fill(`${kbs.url}/c/${otherId}`);
  await page.getByRole("button", { name: "Compare" }).click();
  await expect(page.getByRole("heading", { name: /Diff against config/ })).toBeVisible();
  await expect(page.locator('[data-diff="added"]').filter({ hasText: "ENABLE_DEBUG" })).toBeVisible();
  await expect(page.locator('[data-diff="changed"]').filter({ hasText: "FAN_COUNT" })).toHaveCount(0);
  await expect(page.locator('[data-diff="removed"]').filter({ hasText: "FAN_COUNT" })).toContainText("2");
  await page.screenshot({ path: info.outputPath("config-diff.png"), fullPage: true });
  await context.close();
});

test("Open in menuconfig from the share page shows the same value; a dropped socket reconnects with the screen restored", async ({ page }, info) => {
  await page.goto(shareUrl);
  await page.getByRole("button", { name: "Open in menuconfig" }).click();
  await page.waitForURL(/\/s\/[^/?]+/);
  await waitForScreen(page, /\[\*\] Debug messages/);

  const before = await page.evaluate(() => window.__kbsTerminal!.connects());
  await page.evaluate(() => window.__kbsTerminal!.dropSocket());
  await expect.poll(() => page.evaluate(() => window.__kbsTerminal!.connects()), { timeout: 30_000 }).toBe(before + 1);
  await expect.poll(() => page.evaluate(() => window.__kbsTerminal!.connection())).toBe("connected");
  // The client clears the screen on reconnect: only the server's snapshot can bring this back.
  await waitForScreen(page, new RegExp(title), 15_000);
  await waitForScreen(page, /\[\*\] Debug messages/, 15_000);
  await page.screenshot({ path: info.outputPath("session-reconnected.png") });
});

test("Build leads to a build page that succeeds with a downloadable artifact matching its sha256", async ({ page }, info) => {
  test.setTimeout(600_000);
  await page.goto(shareUrl);
  await page.getByRole("button", { name: "Build", exact: true }).click();
  await page.waitForURL(/\/b\/[^/?]+/);
  buildUrl = page.url();
  await expect(page.locator("[data-build-state]")).toHaveAttribute("data-build-state", "succeeded", { timeout: 540_000 });
  await expect(page.getByLabel("Build log")).toContainText("==> [kbs]");
  const artifact = page.locator('[data-artifact="demo.bin"]');
  await expect(artifact).toBeVisible();
  const expected = await artifact.locator("[data-sha256]").getAttribute("data-sha256");
  const [download] = await Promise.all([page.waitForEvent("download"), artifact.getByRole("link", { name: "demo.bin" }).click()]);
  const file = info.outputPath("demo.bin");
  await download.saveAs(file);
  expect(crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex")).toBe(expected);
  await page.screenshot({ path: info.outputPath("build.png"), fullPage: true });
});

test("Verify rebuilds and shows a reproducible badge on the build page and on the shared config page; the timeline has the host's steps", async ({ page }, info) => {
  test.setTimeout(600_000);
  await page.goto(buildUrl);
  for (const step of ["queue", "sandbox", "checkout", "build", "store"]) await expect(page.locator(`[data-step="${step}"]`)).toBeVisible();
  await page.getByRole("button", { name: "Verify", exact: true }).click();
  await expect(page.locator("[data-reproducible]")).toHaveAttribute("data-reproducible", "true", { timeout: 540_000 });
  await expect(page.locator("[data-reproducible]")).toHaveText("reproducible");
  await page.screenshot({ path: info.outputPath("build-verified.png"), fullPage: true });
  await page.goto(shareUrl);
  await expect(page.locator(`[data-build="${buildUrl.split("/b/")[1]}"] [data-reproducible]`)).toHaveAttribute("data-reproducible", "true");
});

test("a 390px wide phone renders every page without overlap", async ({ page }, info) => {
  await page.setViewportSize({ width: 390, height: 844 });
  const pages: Array<[string, () => Promise<unknown>]> = [
    ["home", () => page.goto(kbs.url + "/")],
    ["config", () => page.goto(shareUrl)],
    [
      "session",
      async () => {
        await page.getByRole("button", { name: "Open in menuconfig" }).click();
        await page.waitForURL(/\/s\/[^/?]+/);
        await waitForScreen(page, new RegExp(title));
        // Below 80 columns the terminal keeps 80 and scrolls inside its frame.
        await waitForScreen(page, /\[Space\/Enter\] Toggle\/enter +\[ESC\] Leave menu +\[S\] Save/);
        expect(await page.locator(".kbs-terminal").evaluate((el) => el.scrollWidth > el.clientWidth)).toBe(true);
      },
    ],
    ["build", () => page.goto(buildUrl)],
  ];
  for (const [name, open] of pages) {
    await open();
    // Nothing wider than the screen: the terminal scrolls inside its own frame instead.
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow, `${name} is wider than the viewport`).toBeLessThanOrEqual(0);
    const boxes = await page.getByRole("button").evaluateAll((els) =>
      els
        // Behind an open modal only the modal counts.
        .filter((el) => el.getClientRects().length > 0 && (!document.querySelector("[aria-modal=true]") || el.closest("[aria-modal=true]")))
        .map((el) => {
          const r = el.getBoundingClientRect();
          return { name: el.textContent?.trim() ?? "", x: r.x, y: r.y, w: r.width, h: r.height };
        }),
    );
    for (let i = 0; i < boxes.length; i++) {
      for (let j = i + 1; j < boxes.length; j++) {
        const a = boxes[i]!;
        const b = boxes[j]!;
        const overlap = a.x < b.x + b.w - 1 && b.x < a.x + a.w - 1 && a.y < b.y + b.h - 1 && b.y < a.y + a.h - 1;
        expect(overlap, `${name}: "${a.name}" overlaps "${b.name}"`).toBe(false);
      }
    }
    await page.screenshot({ path: info.outputPath(`phone-${name}.png`), fullPage: true });
  }
});

test("a build that fails says at which step, with the compiler's line marked in the log", async ({ page, request }, info) => {
  test.setTimeout(300_000);
  // A flag gcc does not know: olddefconfig keeps it, the compile step fails on it.
  const text = 'CONFIG_ARCH_HOST=y\nCONFIG_HOST_OPTIMIZE="-fkbs-no-such-flag"\n';
  const config = await request.post(kbs.url + "/api/configs", { data: { project: "demo", rev: "v1", text } });
  expect(config.ok()).toBe(true);
  const build = await request.post(kbs.url + "/api/builds", { data: { project: "demo", rev: "v1", configId: (await config.json()).id } });
  expect(build.ok()).toBe(true);
  await page.goto(`${kbs.url}/b/${(await build.json()).id}`);
  await expect(page.locator("[data-build-state]")).toHaveAttribute("data-build-state", "failed", { timeout: 240_000 });
  const alert = page.getByRole("alert").filter({ hasText: "The build failed at step build" });
  await expect(alert).toContainText("-fkbs-no-such-flag");
  await expect(page.locator("mark#log-error")).toContainText("-fkbs-no-such-flag");
  await expect(page.locator('[data-step="build"]')).toHaveAttribute("data-step-state", "failed");
  await page.screenshot({ path: info.outputPath("build-failed.png"), fullPage: true });
});

test("the toolbar's Save stores a change menuconfig has not written yet", async ({ page }) => {
  const created = await page.request.post(kbs.url + "/api/sessions", { data: { project: "demo", rev: "v1" } });
  expect(created.status()).toBe(201);
  await page.goto(`${kbs.url}/s/${((await created.json()) as { id: string }).id}`);
  await waitForScreen(page, /\[ \] Debug messages/);
  await toggleEntry(page, /Debug messages/);
  await waitForScreen(page, /\[\*\] Debug messages/);
  // No S, no Q in menuconfig: only the portal's button.
  await page.getByRole("button", { name: "Save", exact: true }).click();
  const row = page.getByRole("complementary", { name: "Changed symbols panel" }).locator('[data-symbol="ENABLE_DEBUG"]');
  await expect(row).toContainText("= y", { timeout: 60_000 });
});
