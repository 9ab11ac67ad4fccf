import { describe, expect, it } from "vitest";
import { tmpDir } from "../../test/helpers/tmp";
import { loadSettings } from "../core/settings";
import { createBackend } from "./service";
import { securityChecks } from "../../test/helpers/security-checks";

const dataDir = tmpDir("kbs-sec-");
const backend = await createBackend("bwrap", { dataDir, sandboxes: loadSettings().sandboxes });

securityChecks("bwrap", { backend: () => backend, image: "menuconfig", dataDir, ownUid: process.getuid?.() === 0 });

describe("bwrap: seccomp filter", () => {
  it("refuses new user namespaces and mount while threads, fork and compilers work", async () => {
    const r = await backend.run({
      image: "build-firmware",
      argv: [
        "/bin/sh",
        "-c",
        [
          "busybox unshare -U -r id >/dev/null 2>&1 && echo USERNS-$((1+1))",
          "busybox unshare -m true >/dev/null 2>&1 && echo MOUNTNS-$((1+1))",
          "grep -c . /proc/self/status >/dev/null",
          "/usr/bin/python3 -c 'import threading; t = threading.Thread(target=print, args=(\"thread ok\",)); t.start(); t.join()'",
          "echo 'int main(void){return 0;}' > /work/a.c && gcc /work/a.c -o /work/a && /work/a && echo gcc ok",
        ].join("; "),
      ],
    });
    expect(r.stdout.toString()).toBe("thread ok\ngcc ok\n");
  });
});
