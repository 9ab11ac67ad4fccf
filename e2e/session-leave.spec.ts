import { expect, test, type Page } from "@playwright/test";
import { portalServer, waitForScreen } from "./helpers";

// Sessions end when the user leaves the portal: its Close button, and leaving the page
// (pagehide beacon), while a reload keeps the session. On the built-in demo project.
const kbs = portalServer();
const title = /kbs demo firmware configuration/;

interface SessionInfo {
  state: string;
  endReason: string | null;
  lingersUntil: string | null;
}

async function openSession(page: Page): Promise<string> {
  const r = await page.request.post(kbs.url + "/api/sessions", { data: { project: "demo", rev: "v1" } });
  expect(r.status()).toBe(201);
  const { id } = (await r.json()) as { id: string };
  await page.goto(`${kbs.url}/s/${id}?project=demo&rev=v1`);
  await waitForScreen(page, title);
  return id;
}

const info = async (page: Page, id: string) => (await (await page.request.get(`${kbs.url}/api/sessions/${id}`)).json()) as SessionInfo;

test("Close ends the session at once and says its config is kept", async ({ page }) => {
  const id = await openSession(page);
  await page.getByRole("button", { name: "Save", exact: true }).click();
  await expect(page.getByText("Last save")).toBeVisible();
  await page.getByRole("toolbar", { name: "Session actions" }).getByRole("button", { name: "Close" }).click();
  await expect(page.getByRole("alert").filter({ hasText: "This session has ended" })).toContainText("This session was closed. Its last saved config is kept.");
  await expect(page.getByRole("link", { name: "Open the last saved config" })).toBeVisible();
  expect(await info(page, id)).toMatchObject({ state: "ended", endReason: "closed" });
});

test("leaving the page ends the session within seconds; a reload keeps it", async ({ page }) => {
  const id = await openSession(page);
  await page.reload();
  await waitForScreen(page, title);
  await expect.poll(async () => (await info(page, id)).lingersUntil, { timeout: 20_000 }).toBeNull();
  expect((await info(page, id)).state).toBe("active");

  // Another site: pagehide sends the beacon, the socket goes away (not a normal close).
  await page.goto("about:blank");
  await expect.poll(async () => (await info(page, id)).state, { timeout: 40_000, intervals: [250] }).toBe("ended");
  expect((await info(page, id)).endReason).toBe("disconnected");
});
