import { expect, test } from "@playwright/test";
import { portalServer, waitForScreen } from "./helpers";

// The symbol explorer on the built-in demo project: the server-rendered /x/ page without
// JavaScript, the session side panel's search and card, and /c/:id leading with what the user chose.
const kbs = portalServer();

async function saveConfig(text: string): Promise<string> {
  const r = await fetch(`${kbs.url}/api/configs`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ project: "demo", rev: "v1", text }) });
  expect(r.status).toBeLessThan(300);
  return ((await r.json()) as { id: string }).id;
}

test.describe("without JavaScript", () => {
  test.use({ javaScriptEnabled: false });

  test("/x/ shows a symbol's help, dependencies as links, definition sites, history and a search", async ({ page }) => {
    await page.goto(`${kbs.url}/x/demo/v1/SERIAL_BAUD`);
    const card = page.locator("[data-symbol-card=SERIAL_BAUD]");
    await expect(card).toContainText("Serial baud rate");
    await expect(card).toContainText("depends on");
    await expect(page.locator("[data-history-span]")).toContainText("First in v1, last in v1.");

    // the definition site opens the file view at its line
    const site = card.locator("[data-site]");
    await expect(site).toHaveText(/^src\/Kconfig:\d+$/);
    const line = Number((await site.textContent())!.split(":")[1]);
    await site.click();
    await expect(page).toHaveURL(new RegExp(`/f/demo/[0-9a-f]{40}/src/Kconfig#L${line}$`));
    await expect(page.locator(`#L${line}`)).toContainText("config SERIAL_BAUD");

    // a dependency is a link to its own page
    await page.goto(`${kbs.url}/x/demo/v1/SERIAL_BAUD`);
    await card.locator("[data-symbol-link=ENABLE_SERIAL]").first().click();
    await expect(page).toHaveURL(/\/x\/demo\/v1\/ENABLE_SERIAL$/);
    await expect(page.locator("[data-symbol-card=ENABLE_SERIAL]")).toContainText("Enable serial console");

    // the search form works as a plain GET
    await page.getByRole("textbox", { name: "Search this revision's symbols" }).fill("fan");
    await page.getByRole("button", { name: "Search" }).click();
    const results = page.getByRole("region", { name: "Search results" });
    await expect(results.getByRole("link")).toHaveText(["FAN_COUNT", "FEATURE_FAN"]);
    await results.getByRole("link", { name: "FAN_COUNT" }).click();
    await expect(page.locator("[data-symbol-card=FAN_COUNT]")).toContainText("1 – 8");
  });

  test("/x/ says clearly when a symbol does not exist or its name is odd", async ({ page }) => {
    await page.goto(`${kbs.url}/x/demo/v1/SERIAL_BAU`);
    await expect(page.getByRole("alert")).toContainText("has no symbol SERIAL_BAU; did you mean SERIAL_BAUD");
    await page.goto(`${kbs.url}/x/demo/v1/${encodeURIComponent("<b>x</b>")}`);
    await expect(page.getByRole("alert")).toContainText("is not a Kconfig symbol name");
  });

  test("/c/:id leads with what the user chose; an absent symbol reads 'not in this config'; names link to their pages", async ({ page }) => {
    const id = await saveConfig("CONFIG_ARCH_ARM=y\nCONFIG_ARM_CORTEX_M4=y\n");
    await page.goto(`${kbs.url}/c/${id}`);
    await expect(page.locator("[data-chosen-summary]")).toHaveText(/^You set 2 options; \d+ symbols differ from the defaults\.$/);
    await expect(page.getByRole("table", { name: "Changed symbols" }).locator("[data-symbol]")).toHaveCount(2);
    const hostOpt = page.locator("[data-symbol=HOST_OPTIMIZE]");
    await expect(hostOpt).toContainText('not in this config (default -O2)');
    await page.locator("summary", { hasText: "more follow" }).click();
    await page.locator("[data-symbol=ARM_CORTEX_M4] a").click();
    await expect(page).toHaveURL(new RegExp(`/x/demo/[0-9a-f]{40}/ARM_CORTEX_M4\\?config=${id}$`));
    const card = page.locator("[data-symbol-card=ARM_CORTEX_M4]");
    await expect(card).toContainText("ARM core");
    await expect(card.locator("[data-symbol-value]")).toContainText("= y — set by the user");
    // the value follows the links to other symbols
    await card.locator("[data-symbol-link=ARM_CORTEX_M3]").first().click();
    await expect(page.locator("[data-symbol-card=ARM_CORTEX_M3] [data-symbol-value]")).toContainText("= n");
  });
});

test("the session side panel searches symbols; the card shows deps as links and the value in the latest save", async ({ page }) => {
  const r = await fetch(`${kbs.url}/api/sessions`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ project: "demo", rev: "v1" }) });
  expect(r.status).toBe(201);
  const session = (await r.json()) as { id: string };
  await page.goto(`${kbs.url}/s/${session.id}?project=demo&rev=v1`);
  await waitForScreen(page, /kbs demo firmware configuration/);

  const search = page.getByRole("searchbox", { name: "Search symbols" });
  await search.fill("baud");
  await page.locator("[data-symbol-hit=SERIAL_BAUD]").click();
  const card = page.locator("[data-symbol-card=SERIAL_BAUD]");
  await expect(card).toContainText("Serial baud rate");
  // a dependency opens its own card in place
  await card.locator("[data-symbol-link=ENABLE_SERIAL]").first().click();
  await expect(page.locator("[data-symbol-card=ENABLE_SERIAL]")).toContainText("Enable serial console");

  // after a save the card shows the symbol's value there and why
  await page.getByRole("button", { name: "Save", exact: true }).click();
  await expect(page.locator("[data-chosen-summary]")).toHaveText(/You set 0 options|Every symbol is at the revision's default/, { timeout: 60_000 });
  await search.fill("ENABLE_SER");
  await page.locator("[data-symbol-hit=ENABLE_SERIAL]").click();
  await expect(page.locator("[data-symbol-card=ENABLE_SERIAL] [data-symbol-value]")).toContainText("= y — the default (y)", { timeout: 30_000 });
  await fetch(`${kbs.url}/api/sessions/${session.id}`, { method: "DELETE" });
});
