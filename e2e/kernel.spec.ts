import { expect, test } from "@playwright/test";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { createFakeLinuxRepo } from "../test/fixtures/fake-linux";
import { kbsBin } from "../test/helpers/server";
import { portalServer, waitForScreen } from "./helpers";

// The maintainer flow on a kernel-like fixture tree (recipe `linux`): start from the tree's
// own defconfig for an ARCH, the tree's mconf in the terminal, then the shared config's
// minimal form against the tree's defconfigs, with a patch to download.
const kbs = portalServer(({ scratch, dataDir }) => {
  const repo = createFakeLinuxRepo(path.join(scratch, "linux"));
  const env = { ...process.env, KBS_DATA_DIR: dataDir, KBS_UPSTREAMS: "0", KBS_LOG_LEVEL: "warn" };
  execFileSync(process.execPath, [kbsBin, "project", "add", "linux", "--recipe", "linux", "--url", repo.dir, "--name", "Fake Linux"], { env, stdio: "pipe" });
  execFileSync(process.execPath, [kbsBin, "sync", "linux"], { env, stdio: "pipe" });
});

test("start from the tree's defconfig for an ARCH, then its minimal form against the tree's defconfigs, with a patch", async ({ page }, info) => {
  test.setTimeout(300_000);
  await page.goto(kbs.url + "/?project=linux&rev=v6.1.2");
  const dialog = page.getByRole("dialog", { name: "Choose a project and revision" });
  await expect(dialog.getByRole("combobox", { name: "Architecture" })).toHaveValue("x86_64");
  await dialog.getByRole("combobox", { name: "Start from" }).fill("defconfig");
  await page.screenshot({ path: info.outputPath("chooser-kernel.png") });
  await dialog.getByRole("button", { name: "Confirm" }).click();
  await page.waitForURL(/\/s\/[^/?]+/, { timeout: 120_000 });
  await waitForScreen(page, /Fake Linux\/x86_64/, 120_000);
  await page.screenshot({ path: info.outputPath("session-kernel.png") });

  // Nothing written by mconf yet: Save stores the starting point, the tree's x86_64_defconfig.
  await page.getByRole("button", { name: "Save", exact: true }).click();
  const share = page.getByRole("link", { name: /Share link/ });
  await expect(share).toBeVisible({ timeout: 60_000 });
  await page.goto(kbs.url + (await share.getAttribute("href"))!);
  await page.getByRole("textbox", { name: "Defconfig name" }).fill("i386");
  await page.getByRole("button", { name: "Diff", exact: true }).click();
  await expect(page.getByLabel("Defconfig diff")).toContainText("--- a/arch/x86/configs/i386_defconfig");
  await page.getByRole("textbox", { name: "Defconfig name" }).fill("x86_64");
  await page.getByRole("button", { name: "Diff", exact: true }).click();
  const diff = page.getByLabel("Defconfig diff");
  await expect(diff).toContainText("+++ b/arch/x86/configs/x86_64_defconfig");
  await expect(diff).toContainText(`+CONFIG_LOCALVERSION="-fake"`);
  const [patch] = await Promise.all([page.waitForEvent("download"), page.getByRole("link", { name: "Download patch (git am)" }).click()]);
  expect(patch.suggestedFilename()).toMatch(/x86_64_defconfig\.patch$/);
  expect(fs.readFileSync(await patch.path(), "utf8")).toMatch(/^From [0-9a-f]{40} /);
  await page.screenshot({ path: info.outputPath("config-kernel.png"), fullPage: true });
});
