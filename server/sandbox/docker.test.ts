import { describe, expect, it } from "vitest";
import { tmpDir } from "../../test/helpers/tmp";
import { loadSettings } from "../core/settings";
import { createBackend } from "./service";
import { securityChecks } from "../../test/helpers/security-checks";

/** docker and podman on a real engine; skipped with the engine's own answer where none runs. */
const dataDir = tmpDir("kbs-engine-");
for (const name of ["docker", "podman"] as const) {
  const backend = await createBackend(name, { dataDir, sandboxes: loadSettings().sandboxes });
  const avail = await backend.available();
  describe.skipIf(!avail.ok)(`${name} backend${avail.ok ? "" : ` (skipped: ${avail.reason})`}`, () => {
    it("runs a command as the unprivileged user with the fixed env and its exit code", async () => {
      const r = await backend.run({ image: "menuconfig", argv: ["/bin/sh", "-c", 'id -u; echo "$TERM $HOME"; exit 4'], timeoutMs: 30 * 60_000 });
      expect(r.stdout.toString()).toBe("1000\nxterm-256color /work/.home\n");
      expect(r.code).toBe(4);
    }, 30 * 60_000);
  });
  if (avail.ok) securityChecks(name, { backend: () => backend, image: "menuconfig", dataDir, ownUid: false });
}
