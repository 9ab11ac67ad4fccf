import path from "node:path";
import fs from "node:fs";
import { config, post, server, waitDone } from "./bench/suites/builds";
import type { Manifest } from "./server/builds/types";
const root = "/tmp/hb/exp4"; fs.rmSync(root, { recursive: true, force: true }); fs.mkdirSync(root, { recursive: true });
const s = await server(root, "data", "/tmp/hb/exp/repo", 1, "big");
const k = (s.kbs as any).kconfig; const orig = k.olddefconfig.bind(k);
let odc = 0; k.olddefconfig = async (...a: unknown[]) => { const t = performance.now(); try { return await orig(...a); } finally { odc = performance.now() - t; } };
try {
  for (let i = 0; i < Number(process.argv[2] ?? 4); i++) {
    if (!process.env.KEEP) fs.rmSync(path.join(s.kbs.settings.dataDir, "ccache"), { recursive: true, force: true });
    const cfg = await post(s.url, "/api/configs", { project: "big", rev: "v1.0.0", text: config(3000 + i) });
    const t0 = performance.now();
    const req = await post(s.url, "/api/builds", { project: "big", rev: "v1.0.0", configId: cfg.json.id });
    const rq = performance.now() - t0;
    const done = await waitDone(s.url, req.json.id);
    const total = performance.now() - t0;
    const tm = (done.manifest as Manifest).timings;
    console.log(`total ${Math.round(total)} request ${Math.round(rq)} (olddefconfig ${Math.round(odc)}) ` + tm.map((t) => `${t.step} ${t.ms}`).join(" ") + ` tail ${Math.round(Date.now() - Date.parse(done.finishedAt!))}`);
  }
} finally { await s.close(); }
