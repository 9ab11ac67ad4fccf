import fs from "node:fs";
import path from "node:path";
import { createFakeFirmwareRepo, fixtureGit } from "../bench/fixtures";
import { createKbs } from "../kbs";
import { loadSettings, type Env } from "../settings";

/**
 * Build fixtures for the build tests and `kbs bench`: the fake firmware repo (demo tree
 * and its history, master tagged v0.3.0) plus one branch per way a build can go:
 *
 *   broken    main.c does not compile
 *   slow      the build sleeps an hour, with a background child (time limit, cancel)
 *   medium    the build sleeps `mediumSec` then builds (a worker killed mid-build)
 *   diskfull  the build writes until its work dir is full
 *   strict    `make olddefconfig` fails on any Kconfig warning (a config that fails olddefconfig)
 *   multi     40 more C files compiled one by one (ccache figures)
 *   pru       an ARCH_PRU choice, on by default (a compiler Debian does not package; the kconfiglib recipe's rule)
 */
export interface BuildFixture {
  dir: string;
  branches: string[];
  /** The `sleep` argument of the slow branch, unique enough to find leftovers in the process table. */
  slowMarker: string;
}

const SLOW = "3007";

const git = (dir: string, args: string[]) => fixtureGit(dir, args);

/** Make `all` also depend on `target`, whose recipe is `lines`. */
function addMakeRule(dir: string, target: string, lines: string[]): void {
  fs.appendFileSync(path.join(dir, "Makefile"), `\nall: ${target}\n${target}:\n${lines.map((l) => `\t${l}`).join("\n")}\n.PHONY: ${target}\n`);
}

function branch(dir: string, name: string, change: () => void): void {
  git(dir, ["checkout", "-q", "-b", name, "master"]);
  change();
  git(dir, ["add", "-A"]);
  git(dir, ["commit", "-q", "-m", `fixture: ${name}`]);
  git(dir, ["checkout", "-q", "master"]);
}

export function createBuildFixtureRepo(dir: string, opts: { mediumSec?: number } = {}): BuildFixture {
  createFakeFirmwareRepo(dir);
  branch(dir, "broken", () => fs.appendFileSync(path.join(dir, "src/main.c"), "\nint kbs_broken = ;\n"));
  branch(dir, "slow", () => addMakeRule(dir, "kbs-slow", [`sleep ${SLOW} & sleep ${SLOW}`]));
  branch(dir, "medium", () => addMakeRule(dir, "kbs-medium", [`sleep ${opts.mediumSec ?? 12}`]));
  branch(dir, "diskfull", () => addMakeRule(dir, "kbs-fill", ["dd if=/dev/zero of=fill bs=1M count=100000"]));
  branch(dir, "strict", () => {
    const mk = path.join(dir, "Makefile");
    const text = fs.readFileSync(mk, "utf8").replace(
      "olddefconfig:\n\t$(PYTHON) $(KCONFIGLIB)/olddefconfig.py src/Kconfig",
      "olddefconfig:\n\t$(PYTHON) $(KCONFIGLIB)/olddefconfig.py src/Kconfig 2>&1 | tee kconfig.log\n\t! grep -qi warning kconfig.log",
    );
    fs.writeFileSync(mk, text);
  });
  branch(dir, "multi", () => {
    const gen = path.join(dir, "src/gen");
    fs.mkdirSync(gen);
    for (let i = 0; i < 40; i++) {
      const body = Array.from({ length: 120 }, (_, j) => `  x = (x * ${j + 3}u) ^ (x >> ${(j % 13) + 1}) ^ t[(x + ${j}u) & 15u];`).join("\n");
      fs.writeFileSync(
        path.join(gen, `g${i}.c`),
        `#include "autoconf.h"\nstatic const unsigned t[16] = {${Array.from({ length: 16 }, (_, k) => k * 2654435761 % 4096).join(",")}};\nunsigned g${i}(unsigned x) {\n${body}\n  return x;\n}\n`,
      );
    }
    fs.appendFileSync(
      path.join(dir, "Makefile"),
      [
        "",
        "GEN_OBJ := $(patsubst src/gen/%.c,$(OUT)/gen/%.o,$(wildcard src/gen/*.c))",
        "all: $(GEN_OBJ)",
        "$(OUT)/gen/%.o: src/gen/%.c $(OUT)/autoconf.h",
        "\t@mkdir -p $(OUT)/gen",
        "\t$(CC) $(CFLAGS) -c -o $@ $<",
        "",
      ].join("\n"),
    );
  });
  branch(dir, "pru", () =>
    fs.appendFileSync(path.join(dir, "src/Kconfig"), '\nchoice\n    prompt "Micro-controller"\nconfig ARCH_PRU\n    bool "Beaglebone PRU"\nconfig ARCH_SIM\n    bool "simulator"\nendchoice\n'),
  );
  return { dir, branches: ["broken", "slow", "medium", "diskfull", "strict", "multi", "pru"], slowMarker: SLOW };
}

/** Register a git repo as project `id` (recipe kconfiglib) in a data dir and index it, in this process. */
export async function addFixtureProject(env: Env, id: string, repoDir: string, recipe = "kconfiglib"): Promise<void> {
  const kbs = await createKbs(loadSettings(env));
  try {
    kbs.projects.add({ id, recipe, upstream: { kind: "git", url: repoDir } });
    await kbs.sync.sync(id);
  } finally {
    await kbs.close();
  }
}
