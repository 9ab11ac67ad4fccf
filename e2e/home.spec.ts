import { expect, test } from "@playwright/test";
import { portalServer } from "./helpers";

const kbs = portalServer();

test("home page shows the product and a working chooser button", async ({ page }, info) => {
  await page.goto(kbs.url + "/");
  await expect(page.getByRole("link", { name: "kbs" })).toBeVisible();
  const choose = page.getByRole("button", { name: "Choose a project" });
  await expect(choose).toBeEnabled();
  await page.screenshot({ path: info.outputPath("home.png"), fullPage: true });
});

test("healthz answers and metrics parse as Prometheus text", async ({ request }) => {
  const health = await request.get(kbs.url + "/healthz");
  expect(health.status()).toBe(200);
  expect((await health.text()).trim()).toBe("ok");
  const metrics = await request.get(kbs.url + "/metrics");
  expect(metrics.headers()["content-type"]).toContain("text/plain");
  const lines = (await metrics.text()).split("\n").filter((l) => l && !l.startsWith("#"));
  expect(lines.length).toBeGreaterThan(5);
  for (const line of lines) expect(line).toMatch(/^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? -?[0-9.eE+\-]+|NaN|[+-]Inf$/);
  expect(lines.some((l) => l.startsWith("kbs_process_"))).toBe(true);
});
