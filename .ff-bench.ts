// one-off measurement for the closing note (not committed)
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { localMenuconfigFirstFrame } from "./bench/baselines";
import { startKbs } from "./test/helpers/server";
import { api, LoadTerminal } from "./bench/load";

const topFrame = /Arrow keys navigate the menu/;
const dataDir = "/tmp/i15/data";
const rev = process.argv[2] ?? "2026.05.1";
const kbs = await startKbs({ dataDir, withNext: false, env: { KBS_UPSTREAMS: "0", KBS_BUILTINS: "0", KBS_BUILD_WORKERS: "0", KBS_LOG_LEVEL: "warn" } });
try {
  const out: number[] = [];
  for (let i = 0; i < 4; i++) {
    const t0 = performance.now();
    const created = await api<{ wsPath: string }>(`${kbs.url}/api/sessions`, { method: "POST", body: { project: "br", rev } });
    const term = await LoadTerminal.open(kbs.url, created.wsPath, 120, 40);
    try {
      await term.until("top", () => topFrame.test(term.screen()), 180_000);
      out.push(Math.round(performance.now() - t0));
    } finally {
      term.close();
    }
    console.log(`kbs session ${i}: ${out[i]} ms`);
  }
} finally {
  await kbs.stop();
}
const tree = "/tmp/i15/ff/tree";
if (!fs.existsSync(tree)) {
  fs.mkdirSync(tree, { recursive: true });
  execFileSync("sh", ["-c", `git -C /tmp/i15/buildroot archive ${rev} | tar -x -C ${tree}`]);
}
const local = await localMenuconfigFirstFrame({ dir: tree, title: topFrame, runs: 4, command: "make menuconfig", timeoutMs: 180_000 });
console.log(`local make menuconfig: ${local.join(", ")} ms`);
