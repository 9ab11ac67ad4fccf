import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { loadSettings } from "../../server/core/settings";
import { createBackend } from "../../server/sandbox/service";
import { createFakeFirmwareRepo, fixtureGit } from "../../test/fixtures/fake-firmware";
import { klipperSizedTree } from "../../test/fixtures/symbols";
import { kbsBin, startKbs } from "../../test/helpers/server";
import { metricAtLeast, sessionFirstFrame, topFrame } from "../arrivals";
import { localMenuconfigFirstFrame, systemPython } from "../baselines";
import { api } from "../load";
import type { BenchFigure, BenchSuite } from "../types";

const PROJECT = "ksized";
const WARM_POOL = 'kbs_sandbox_warm{image="menuconfig"}';
const PRIMED = `kbs_sessions_primed{project="${PROJECT}"}`;

/** The demo firmware with its own lib/kconfiglib (as Klipper ships) and a Klipper-sized Kconfig tree (12 files, 11 architectures). */
function klipperSizedRepo(dir: string): string {
  createFakeFirmwareRepo(dir, { ownKconfiglib: true });
  for (const [rel, text] of Object.entries(klipperSizedTree())) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), text);
  }
  fixtureGit(dir, ["add", "-A"]);
  fixtureGit(dir, ["commit", "-q", "-m", "a Klipper-sized Kconfig tree"]);
  return dir;
}

/**
 * Issue 19's qemu figure: the first menuconfig session on a Klipper-sized tree through a
 * `kbs serve` with KBS_SANDBOX=qemu (TCG), right after the project's `kbs sync` (which
 * byte-compiled the tree's Kconfiglib in a guest) with the warm pool up and no primed
 * session yet (priming off, so every run is such a first session), then the next session
 * once the primer has a guest drawn for the tree; beside local menuconfig on a checkout.
 */
export const suite: BenchSuite = async (ctx) => {
  const names = ["qemu.first-session", "qemu.first-session.primed"];
  const avail = await (await createBackend("qemu", { dataDir: path.join(ctx.workDir, "qemu-probe"), sandboxes: loadSettings().sandboxes })).available();
  if (!avail.ok) return names.map((name) => ({ name, unit: "ms" as const, samples: [], skipped: avail.reason }));
  const runs = ctx.quick ? 2 : 5;
  const repo = klipperSizedRepo(path.join(ctx.workDir, "qemu-tree"));
  const dataDir = path.join(ctx.workDir, "qemu-data");
  const env = { KBS_UPSTREAMS: "0", KBS_SANDBOX: "qemu", KBS_BUILD_WORKERS: "0", KBS_LOG_LEVEL: "error", KBS_POOL_SIZE: "1" };
  ctx.log("qemu: add and sync a Klipper-sized tree (its Kconfiglib byte-compiled in a guest)");
  const cli = (...args: string[]) => execFileSync(process.execPath, [kbsBin, ...args], { env: { ...process.env, ...env, KBS_DATA_DIR: dataDir }, stdio: "ignore" });
  cli("project", "add", PROJECT, "--recipe", "klipper", "--url", repo);
  cli("sync", PROJECT);

  const figures: BenchFigure[] = [];
  const unprimed = await startKbs({ dataDir, withNext: false, env: { ...env, KBS_PRIMED_TREES: "0" } });
  let rev = "";
  const first: number[] = [];
  try {
    rev = (await api<Array<{ sha: string }>>(`${unprimed.url}/api/projects/${PROJECT}/revisions?limit=1`))[0]!.sha;
    for (let i = 0; i < runs; i++) {
      ctx.log(`qemu: first session ${i + 1}/${runs} (waiting for a booted guest in the pool)`);
      await metricAtLeast(unprimed.url, WARM_POOL, 1, 180_000);
      first.push(await sessionFirstFrame(unprimed.url, PROJECT, rev, 180_000));
    }
  } finally {
    await unprimed.stop();
  }

  const primed: number[] = [];
  const primer = await startKbs({ dataDir, withNext: false, env });
  try {
    await metricAtLeast(primer.url, WARM_POOL, 1, 180_000);
    await sessionFirstFrame(primer.url, PROJECT, rev, 180_000);
    for (let i = 0; i < runs; i++) {
      ctx.log(`qemu: primed session ${i + 1}/${runs} (waiting for the primer's guest)`);
      await metricAtLeast(primer.url, PRIMED, 1, 180_000);
      primed.push(await sessionFirstFrame(primer.url, PROJECT, rev, 180_000));
    }
  } finally {
    await primer.stop();
  }

  ctx.log("qemu: local menuconfig with the tree's lib/kconfiglib (baseline)");
  const local = await localMenuconfigFirstFrame({ dir: repo, title: topFrame, runs, command: `make menuconfig PYTHON=${systemPython} KCONFIGLIB=lib/kconfiglib` });
  const baseline = { name: "local make menuconfig with the tree's lib/kconfiglib, in tmux", samples: local };
  figures.push(
    {
      name: names[0]!,
      unit: "ms",
      samples: first,
      baseline,
      target: "p50 <= 5000 ms",
      note: "KBS_SANDBOX=qemu (TCG): POST /api/sessions to the top menu, the first session after kbs sync with a booted guest in the pool, no primed one (/kbs/in over the NVMe in-drive, the tree's prebuilt bytecode)",
    },
    { name: names[1]!, unit: "ms", samples: primed, baseline, note: "the next session on the tree: handed the guest the primer launched and drew ahead of need" },
  );
  return figures;
};
