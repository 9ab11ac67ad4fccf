import { expect, test } from "@playwright/test";
import { portalServer, waitForScreen } from "./helpers";

// The built-in `vm` project end to end in the portal: its menuconfig, a build that boots
// the image in QEMU, and the build page's artifacts and boot instructions.
const kbs = portalServer();

test("configure and build the minimal VM image; the build page shows how to boot it", async ({ page }, info) => {
  test.setTimeout(600_000);
  await page.goto(kbs.url + "/?project=vm&rev=v1");
  await page.getByRole("dialog").getByRole("button", { name: "Confirm" }).click();
  await page.waitForURL(/\/s\/[^/?]+/);
  await waitForScreen(page, /\(Top\)/);
  await page.getByRole("button", { name: "Build", exact: true }).click();
  await page.waitForURL(/\/b\/[^/?]+/);
  await expect(page.locator("[data-build-state]")).toHaveAttribute("data-build-state", "succeeded", { timeout: 540_000 });
  await expect(page.locator('[data-artifact="vm-manifest.json"]')).toBeVisible();
  // The serial console's escape sequences are not shown as junk; its text is.
  const log = page.getByLabel("Build log");
  await expect(log).toContainText("KBS-VM-BOOTED");
  expect(await log.textContent()).not.toMatch(/[\x00-\x08\x1b]/);
  const boot = page.getByRole("region", { name: "Boot it" });
  await expect(boot).toContainText(`npx kbs vm run ${page.url().split("/b/")[1]} --url ${kbs.url}`);
  await page.screenshot({ path: info.outputPath("build-vm.png"), fullPage: true });
});
