import { expect, test, type Page } from "@playwright/test";
import { execFileSync } from "node:child_process";
import path from "node:path";
import { createFakeFirmwareRepo } from "../test/fixtures/fake-firmware";
import { kbsBin } from "../test/helpers/server";
import { portalServer, waitForScreen } from "./helpers";

// The chooser against a fixture firmware repo with history (tags, a branch, commits that
// share kconfig trees), synced with the real `kbs project add` and `kbs sync`; and the
// error pages a wrong link leads to.
const kbs = portalServer(({ scratch, dataDir }) => {
  const repo = createFakeFirmwareRepo(path.join(scratch, "fw"));
  const env = { ...process.env, KBS_DATA_DIR: dataDir, KBS_UPSTREAMS: "0", KBS_LOG_LEVEL: "warn" };
  execFileSync(process.execPath, [kbsBin, "project", "add", "fw", "--recipe", "kconfiglib", "--url", repo.dir, "--name", "Fixture firmware"], { env, stdio: "pipe" });
  execFileSync(process.execPath, [kbsBin, "sync", "fw"], { env, stdio: "pipe" });
});

const chooser = (page: Page) => page.getByRole("dialog", { name: "Choose a project and revision" });

test("revisions: tags first, type-to-search, same-options hint", async ({ page }, info) => {
  await page.goto(kbs.url + "/");
  const dialog = chooser(page);
  await dialog.getByRole("option", { name: /Fixture firmware/ }).click();
  const revisions = dialog.getByRole("listbox", { name: "Revisions" }).getByRole("option");
  await expect(revisions.first()).toContainText("v0.3.0");
  // v0.1.0 (c1) and the code-only commit after it share one kconfig tree.
  await expect(revisions.filter({ hasText: "v0.1.0" }).first()).toContainText(/same options as [1-9]\d* other revision/);
  await page.screenshot({ path: info.outputPath("chooser-fixture.png") });

  const search = dialog.getByRole("combobox", { name: "Search revisions" });
  await expect(search).toBeFocused();
  await page.keyboard.type("rc1");
  await expect(revisions).toHaveCount(1);
  await expect(revisions.first()).toContainText("v0.3.0-rc1");
  await page.keyboard.press("Escape");
  await expect(search).toHaveValue("");
  await expect(dialog).toBeVisible();
  await page.keyboard.press("Escape");
  await expect(dialog).toBeHidden();
  await page.getByRole("button", { name: "Choose a project" }).click();
  await expect(chooser(page)).toBeVisible();
});

test("a deep link pre-selects project and revision; Enter opens menuconfig", async ({ page }) => {
  await page.goto(kbs.url + "/?project=fw&rev=v0.2.0");
  const confirm = chooser(page).getByRole("button", { name: "Confirm" });
  await expect(confirm).toBeFocused();
  await expect(chooser(page)).toContainText("Fixture firmware @ v0.2.0");
  await page.keyboard.press("Enter");
  await page.waitForURL(/\/s\/[^/?]+\?project=fw&rev=v0.2.0/);
  await waitForScreen(page, /kbs demo firmware configuration/);
});

test("a deep link to an unknown revision says so; an unknown project lists the known ones", async ({ page }) => {
  await page.goto(kbs.url + "/?project=fw&rev=v9.9.9");
  await expect(chooser(page).getByRole("alert")).toContainText('has no revision "v9.9.9"');
  await page.goto(kbs.url + "/?project=nope");
  await expect(chooser(page).getByRole("alert")).toContainText("Known projects: ");
  await expect(chooser(page).getByRole("alert")).toContainText("fw");
});

test("a pasted .config that is not one is refused inline, before any session starts", async ({ page }) => {
  await page.goto(kbs.url + "/?project=fw&rev=v0.3.0");
  await chooser(page).getByRole("textbox", { name: "Existing .config (optional)" }).fill("hello world\nCONFIG_X\n");
  await chooser(page).getByRole("button", { name: "Confirm" }).click();
  await expect(page.locator("#config-error")).toContainText("line 1");
  expect(new URL(page.url()).pathname).toBe("/");
});

test("typing into the .config box while the deep link resolves stays there: the chooser does not take the focus", async ({ page }) => {
  // The projects (and so the deep link) arrive only after the user started typing.
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  await page.route("**/api/projects", async (route) => {
    await held;
    await route.continue();
  });
  await page.goto(kbs.url + "/?project=fw&rev=v0.3.0");
  const box = chooser(page).getByRole("textbox", { name: "Existing .config (optional)" });
  await box.click();
  await page.keyboard.type("hello world");
  release();
  await expect(chooser(page)).toContainText("Fixture firmware @ v0.3.0");
  await page.keyboard.type("\nCONFIG_X\n");
  await expect(box).toHaveValue("hello world\nCONFIG_X\n");
  await expect(chooser(page).getByRole("combobox", { name: "Search revisions" })).toHaveValue("v0.3.0");
  await chooser(page).getByRole("button", { name: "Confirm" }).click();
  await expect(page.locator("#config-error")).toContainText("line 1");
});

test("wrong links explain themselves: unknown session, config and build", async ({ page }, info) => {
  await page.goto(kbs.url + "/s/not-a-session");
  await expect(page.getByRole("alert").filter({ hasText: "This session has ended" })).toContainText("No such session", { timeout: 30_000 });
  await expect(page.getByRole("link", { name: "Start a new session" })).toBeVisible();
  await page.screenshot({ path: info.outputPath("session-unknown.png") });
  for (const url of ["/c/0000", "/b/0000"]) {
    const res = await page.goto(kbs.url + url);
    expect(res?.status()).toBe(404);
    await expect(page.getByRole("heading", { name: "Nothing here" })).toBeVisible();
  }
});
