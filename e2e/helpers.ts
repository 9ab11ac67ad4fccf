import { expect, test, type Page } from "@playwright/test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { startKbs, type KbsProcess } from "../test/helpers/server";

/**
 * One real `kbs serve` (with the Next build) per spec file, in its own data dir.
 * `prepare` runs before the server starts (e.g. `kbs project add` + `kbs sync`), with a
 * scratch dir for fixtures and the server's data dir.
 */
export function portalServer(prepare?: (dirs: { scratch: string; dataDir: string }) => void): { readonly url: string; readonly kbs: KbsProcess } {
  let kbs: KbsProcess | undefined;
  let root: string;
  test.beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "kbs-e2e-"));
    prepare?.({ scratch: root, dataDir: path.join(root, "data") });
    kbs = await startKbs({ dataDir: path.join(root, "data") });
  });
  test.afterAll(async () => {
    await kbs?.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });
  return {
    get url() {
      return kbs!.url;
    },
    get kbs() {
      return kbs!;
    },
  };
}

/** The session page's terminal screen as text (the page exposes its xterm buffer for tests). */
export const terminalText = (page: Page) => page.evaluate(() => window.__kbsTerminal?.text() ?? "");

export async function waitForScreen(page: Page, pattern: RegExp, timeout = 60_000) {
  await expect.poll(() => terminalText(page), { timeout, message: `terminal never showed ${pattern}` }).toMatch(pattern);
}
