import fs from "node:fs";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { createBackend } from "./server/sandbox/service";
import { loadSettings } from "./server/core/settings";
const root = "/tmp/hb/exp";
const repo = path.join(root, "repo");
const clone = path.join(root, "clone");
const inDir = path.join(root, "in");
const backend = await createBackend("bwrap", { dataDir: path.join(root, "data"), sandboxes: loadSettings().sandboxes });
const script = `cd /work && mkdir src && cd src && tar -xf /kbs/in/tree-mt.tar && cp /kbs/in/config .config && make olddefconfig PYTHON=/usr/bin/python3 >/dev/null 2>&1
TIMEFORMAT="%R %U %S"; { time make -j2 PYTHON=/usr/bin/python3 >/dev/null 2>&1 ; } 2>&1`;
const variants: Record<string, Record<string,string>> = {
  nocc: { CCACHE_DISABLE: "1", PATH: "/usr/bin:/bin" },
  ccache: { CCACHE_DIR: "/work/.ccache", CCACHE_CONFIGPATH: "/kbs/in/ccache.conf", PATH: "/usr/lib/ccache:/usr/bin:/bin" },
};
const cpu = (l: string) => { const [, u, s] = l.split(" ").map(Number); return Math.round((u! + s!) * 1000); };
const res: Record<string, number[]> = { bare: [], nocc: [], ccache: [] };
for (let i = 0; i < Number(process.argv[2] ?? 5); i++) {
  fs.rmSync(path.join(clone, "out"), { recursive: true, force: true });
  fs.writeFileSync(path.join(clone, ".config"), "CONFIG_ARCH_HOST=y\nCONFIG_BLINK_PERIOD_MS=2000\n");
  execFileSync("sh", ["-c", "make olddefconfig PYTHON=/usr/bin/python3 >/dev/null"], { cwd: clone });
  const out = execFileSync("bash", ["-c", 'TIMEFORMAT="%R %U %S"; { time make -j2 PYTHON=/usr/bin/python3 >/dev/null 2>&1 ; } 2>&1'], { cwd: clone }).toString().trim().split("\n");
  res.bare!.push(cpu(out[0]!)); let line = `bare ${out.join(" ")}`;
  for (const [name, env] of Object.entries(variants)) {
    const r = await backend.run({ image: "build-firmware", argv: ["/bin/bash", "-c", script], cwd: "/work", env, binds: [{ host: inDir, guest: "/kbs/in" }], workSizeBytes: 2 ** 30, timeoutMs: 120000 });
    const o = r.stdout.toString().trim().split("\n");
    res[name]!.push(cpu(o[0]!)); line += ` | ${name} ${o.join(" ")}`;
  }
  console.log(line);
}
const med = (x: number[]) => [...x].sort((a, b) => a - b)[x.length >> 1];
console.log(Object.entries(res).map(([k, v]) => `${k} ${med(v)}`).join(", "));
