import { expect, test, type Page } from "@playwright/test";
import { portalServer, waitForScreen } from "./helpers";

// Every page under kbs's Content-Security-Policy in Chromium: nothing is blocked (a blocked
// script would leave the page unhydrated; a blocked style or socket, a broken terminal),
// and a config that runs code shows its warning on /c/:id and /b/:id.
test.describe.configure({ mode: "serial" });

const kbs = portalServer();

/** CSP violations the page reports (the securitypolicyviolation event and Chromium's console line). */
function watchViolations(page: Page): string[] {
  const seen: string[] = [];
  page.on("console", (m) => {
    if (/Content Security Policy/i.test(m.text())) seen.push(m.text());
  });
  page.on("pageerror", (e) => seen.push(`pageerror: ${e.message}`));
  void page.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) => console.error(`Content Security Policy violation: ${e.violatedDirective} ${e.blockedURI}`));
  });
  return seen;
}

async function post<T>(path: string, body: unknown): Promise<T> {
  const r = await fetch(kbs.url + path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  expect(r.status, await r.clone().text()).toBeLessThan(300);
  return (await r.json()) as T;
}

test("home, session, shared config, build and 404 pages load with no CSP violation; the runs-code warning shows", async ({ page }, info) => {
  test.setTimeout(300_000);
  const violations = watchViolations(page);
  const rev = ((await (await fetch(`${kbs.url}/api/projects/demo/revisions?limit=1`)).json()) as Array<{ sha: string }>)[0]!.sha;

  await page.goto(kbs.url + "/");
  // Hydrated: the chooser dialog is a client component.
  await expect(page.getByRole("dialog", { name: "Choose a project and revision" })).toBeVisible();

  const session = await post<{ id: string }>("/api/sessions", { project: "demo", rev });
  await page.goto(`${kbs.url}/s/${session.id}?project=demo&rev=${rev}`);
  await waitForScreen(page, /kbs demo firmware configuration/);

  const cfg = await post<{ id: string }>("/api/configs", { project: "demo", rev, text: 'CONFIG_ARCH_HOST=y\nCONFIG_HOST_OPTIMIZE="-O2 $(shell id >&2)"\n' });
  await page.goto(`${kbs.url}/c/${cfg.id}`);
  const warning = page.locator("[data-runs-code]");
  await expect(warning).toContainText("This config runs commands when built; read it first");
  await expect(warning).toContainText("CONFIG_HOST_OPTIMIZE");
  await page.screenshot({ path: info.outputPath("config-runs-code.png") });

  const build = await post<{ id: string }>("/api/builds", { project: "demo", rev, configId: cfg.id });
  await page.goto(`${kbs.url}/b/${build.id}`);
  await expect(page.locator("[data-build-state]")).toHaveAttribute("data-build-state", "succeeded", { timeout: 240_000 });
  await expect(page.locator("[data-runs-code]")).toContainText("CONFIG_HOST_OPTIMIZE");

  const missing = await page.goto(`${kbs.url}/no-such-page`);
  expect(missing?.status()).toBe(404);
  expect(missing?.headers()["content-security-policy"]).toContain("frame-ancestors 'none'");
  expect(violations).toEqual([]);
});
