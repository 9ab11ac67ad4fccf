import { spawnSync } from "node:child_process";
import { extraChecks, type CheckResult, type DoctorOptions } from "../doctor";
import { procEnv } from "../core/settings";

/** gitref needs git >= 2.31 (`log --diff-merges=first-parent`, `fetch --atomic --stdin`, `--end-of-options`). */
export const minGit: [number, number] = [2, 31];

function gitVersionCheck(opts: DoctorOptions): CheckResult {
  const r = spawnSync("git", ["--version"], { env: procEnv(opts.env), encoding: "utf8", timeout: 10_000 });
  const m = /git version (\d+)\.(\d+)/.exec(r.stdout ?? "");
  const ok = !!m && (Number(m[1]) > minGit[0] || (Number(m[1]) === minGit[0] && Number(m[2]) >= minGit[1]));
  return {
    name: "git for gitref",
    ok,
    required: true,
    detail: m ? `git ${m[1]}.${m[2]} (needs ${minGit.join(".")} or newer)` : "git not found or unreadable version",
    fix: "install git 2.31 or newer (Debian 12: apt-get install git)",
  };
}

extraChecks.push(gitVersionCheck);
