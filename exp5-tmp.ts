import path from "node:path";
import fs from "node:fs";
import { execFileSync } from "node:child_process";
import { startServer } from "./server/main";
import { loadSettings } from "./server/core/settings";
import { post, waitDone } from "./bench/suites/builds";
import type { Manifest } from "./server/builds/types";
const dataDir = process.env.DATA ?? "/tmp/hb/kdata";
const clone = "/tmp/hb/klipper";
const s = await startServer(loadSettings({ KBS_DATA_DIR: dataDir, PORT: "0", KBS_UPSTREAMS: "0", KBS_BUILTINS: "0", KBS_POOL_SIZE: "0", KBS_BUILD_WORKERS: "1", KBS_LOG_LEVEL: "warn" }), { withNext: false });
const cfg = (baud: number) => `CONFIG_LOW_LEVEL_OPTIONS=y\nCONFIG_MACH_STM32=y\nCONFIG_MACH_STM32F103=y\nCONFIG_STM32_SERIAL_USART1=y\nCONFIG_SERIAL_BAUD=${baud}\n`;
const rev = process.env.REV ?? "master";
const revision = s.kbs.revdb.resolve("klipper", rev);
const med = (x: number[]) => [...x].sort((a, b) => a - b)[x.length >> 1]!;
const res = { bare: [] as number[], kbs: [] as number[], ratio: [] as number[] };
const ids: string[] = [];
try {
  for (let i = 0; i < Number(process.argv[2] ?? 3); i++) {
    const baud = 250000 + (Number(process.env.BASE ?? 0)) + i;
    let bare = 0;
    if (!process.env.NOBARE) {
      fs.rmSync(path.join(clone, "out"), { recursive: true, force: true });
      fs.writeFileSync(path.join(clone, ".config"), cfg(baud));
      const t = performance.now();
      execFileSync("sh", ["-c", "make olddefconfig PYTHON=/usr/bin/python3 >/dev/null && make -j2 PYTHON=/usr/bin/python3 >/dev/null"], { cwd: clone });
      bare = performance.now() - t;
    }
    if (!process.env.KEEP) fs.rmSync(path.join(dataDir, "ccache"), { recursive: true, force: true });
    const written = await s.kbs.kconfig.olddefconfig("klipper", revision, cfg(baud));
    const { id: configId } = s.kbs.configs.put({ project: "klipper", rev, text: written, written: true });
    const t0 = performance.now();
    const req = await post(s.url, "/api/builds", { project: "klipper", rev, configId });
    const rq = performance.now() - t0;
    const done = await waitDone(s.url, req.json.id);
    const total = performance.now() - t0;
    ids.push(done.id);
    res.bare.push(bare); res.kbs.push(total); res.ratio.push(total / bare);
    console.log(`bare ${Math.round(bare)} kbs ${Math.round(total)} ratio ${(total / bare).toFixed(2)} request ${Math.round(rq)} ` + (done.manifest as Manifest).timings.map((t) => `${t.step} ${t.ms}`).join(" "));
  }
  console.log(`median bare ${Math.round(med(res.bare))} kbs ${Math.round(med(res.kbs))} ratio-of-medians ${(med(res.kbs) / med(res.bare)).toFixed(2)} median-ratio ${med(res.ratio).toFixed(2)} ids ${ids.join(",")}`);
} finally { await s.close(); }
