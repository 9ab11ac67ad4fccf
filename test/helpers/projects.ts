import { fixtureGit } from "../fixtures/fake-firmware";
import { openDb, type Db } from "../../server/core/db";
import { createProjectParts, type ProjectParts } from "../../server/projects/parts";

/** The projects/gitref/revdb services over a fresh data dir, without the rest of kbs. */
export function openProjectParts(dataDir: string): ProjectParts & { db: Db } {
  const db = openDb(dataDir);
  return { db, ...createProjectParts(dataDir, db) };
}

/** git in a fixture repo, with a fixed identity and date (tests make their own history). */
export const git = (dir: string, args: string[], opts: { date?: string; input?: string } = {}): string =>
  fixtureGit(dir, args, { date: "1700000000 +0000", ...opts });

/** `git describe --always --tags` of each commit, as git itself computes it in `dir`. */
export function realDescribe(dir: string, shas: string[]): Map<string, string> {
  const out = git(dir, ["describe", "--always", "--tags", ...shas]).split("\n");
  return new Map(shas.map((s, i) => [s, out[i]!]));
}

/**
 * A repo with a tangled history for describe: `n` commits on several branches with
 * merges, clock skew and equal dates, annotated and lightweight tags (two on one
 * commit, some on side branches), Kconfig changes here and there. Made with fast-import.
 */
export function createTangledRepo(dir: string, n: number, seed = 1): void {
  let s = seed;
  const rand = (k: number) => {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    return s % k;
  };
  git(process.cwd(), ["init", "-q", "--bare", "-b", "master", dir]);
  const data = (t: string) => `data ${Buffer.byteLength(t)}\n${t}\n`;
  const branches = ["master"];
  const tip = new Map<string, number>();
  let out = "";
  let date = 1_600_000_000;
  let kconfig = 'mainmenu "tangled"\nconfig BASE\n    bool "base"\n';
  for (let i = 1; i <= n; i++) {
    date += rand(5) === 0 ? 0 : rand(7) === 0 ? -1800 : 600;
    const when = `${date} +0000`;
    if (i > 5 && rand(10) === 0 && branches.length < 5) {
      const name = `topic${branches.length}`;
      branches.push(name);
      out += `reset refs/heads/${name}\nfrom :${tip.get("master")}\n`;
      tip.set(name, tip.get("master")!);
    }
    const branch = branches[rand(branches.length)]!;
    const ops: string[] = [];
    if (i === 1) ops.push(`M 100644 inline src/Kconfig\n${data(kconfig)}`, `M 100644 inline Makefile\n${data("all:\n")}`);
    if (rand(6) === 0) {
      kconfig += `config OPT_${i}\n    bool "option ${i}"\n`;
      ops.push(`M 100644 inline src/${rand(2) ? "Kconfig" : `arch/a${rand(3)}/Kconfig`}\n${data(kconfig)}`);
    }
    ops.push(`M 100644 inline src/main.c\n${data(`int v = ${i};\n`)}`);
    const from = tip.has(branch) ? `from :${tip.get(branch)}\n` : "";
    const others = branches.filter((b) => b !== branch && tip.has(b) && tip.get(b) !== tip.get(branch));
    const merge = i > 3 && others.length && rand(5) === 0 ? `merge :${tip.get(others[rand(others.length)]!)}\n` : "";
    out += `commit refs/heads/${branch}\nmark :${i}\nauthor t <t@kbs.invalid> ${when}\ncommitter t <t@kbs.invalid> ${when}\n${data(`c${i}`)}${from}${merge}${ops.join("")}`;
    tip.set(branch, i);
    if (rand(9) === 0) out += `tag v${i}\nfrom :${i}\ntagger t <t@kbs.invalid> ${date + rand(3)} +0000\n${data(`v${i}`)}`;
    else if (rand(13) === 0) out += `reset refs/tags/light${i}\nfrom :${i}\n`;
    if (rand(25) === 0) out += `tag w${i}\nfrom :${i}\ntagger t <t@kbs.invalid> ${date + rand(3)} +0000\n${data(`w${i}`)}reset refs/tags/x${i}\nfrom :${i}\n`;
  }
  git(dir, ["fast-import", "--quiet", "--done"], { input: out + "done\n" });
}
