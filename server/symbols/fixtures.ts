import fs from "node:fs";
import path from "node:path";
import { fixtureGit } from "../bench/fixtures";

/**
 * Kconfig trees for the symbol explorer's tests and bench, written at run time (no
 * upstream code is stored).
 *
 * `createSymbolFixtureRepo`: a `kconfiglib`-recipe repo (src/Kconfig) with a choice, a
 * select chain (USB_CDC -> USB_STACK -> IRQ_CORE) and an imply, a symbol defined in two
 * files (BOARD_RAM_KB, in src/Kconfig and src/board/Kconfig), help text, menus, `if`
 * blocks, a range, a `$(shell,...)` default that says where it ran, a symlink and a binary file. Its history:
 *
 *   v1   the tree                          LCD_SPI absent
 *   v2   LCD_SPI appears (help "first")
 *   v2b  code only                         (same kconfig tree as v2)
 *   v3   LCD_SPI's help changes
 *   v4   LCD_SPI removed
 *   v5   src/Kconfig does not parse
 */
export interface SymbolFixtureRepo {
  dir: string;
  commits: Record<"v1" | "v2" | "v2b" | "v3" | "v4" | "v5", string>;
}

export const SYMBOL_FIXTURE_KCONFIG = `# where the preprocessor's shell runs: /kbs/in exists only inside a kbs sandbox
FIXTURE_NAME := $(shell,test -d /kbs/in && echo in-sandbox || echo on-host)

mainmenu "Symbol fixture $(FIXTURE_NAME)"

choice
    prompt "Processor"
    default MACH_ALPHA
    help
      The processor family.

config MACH_ALPHA
    bool "Alpha processor"

config MACH_BETA
    bool "Beta processor"
    select IRQ_CORE

endchoice

config IRQ_CORE
    bool

config USB_STACK
    bool
    select IRQ_CORE

menu "Communication"

config USB_CDC
    bool "USB serial (CDC)"
    select USB_STACK
    imply USB_LOG
    help
      Talk to the host over USB.

config USB_LOG
    bool "Log USB traffic"
    depends on USB_STACK

if MACH_BETA

config BETA_CAN
    bool "CAN bus on the Beta"
    default y

endif

endmenu

config BUILD_TAG
    string "Build tag"
    default "$(FIXTURE_NAME)"

config BOARD_RAM_KB
    int "Board RAM (KiB)"
    range 8 512
    default 64 if MACH_ALPHA
    help
      RAM on the board.

source "src/board/Kconfig"
`;

const BOARD_KCONFIG = `menu "Board"

config BOARD_RAM_KB
    int
    default 128 if MACH_BETA

config BOARD_LEDS
    int "LED count"
    depends on !MACH_BETA
    default 2

endmenu
`;

const lcd = (help: string) => `
menu "Display"

config LCD_SPI
    bool "LCD on SPI"
    depends on USB_CDC || MACH_BETA
    help
      ${help}

endmenu
`;

export function createSymbolFixtureRepo(dir: string): SymbolFixtureRepo {
  fs.mkdirSync(path.join(dir, "src/board"), { recursive: true });
  let t = 1_700_000_000;
  const commits: Partial<SymbolFixtureRepo["commits"]> = {};
  const git = (args: string[]) => fixtureGit(dir, args, { date: `${t} +0000` });
  const write = (rel: string, text: string) => fs.writeFileSync(path.join(dir, rel), text);
  const commit = (name: keyof SymbolFixtureRepo["commits"]) => {
    t += 3600;
    git(["add", "-A"]);
    git(["commit", "-q", "-m", name]);
    git(["tag", "-a", name, "-m", name]);
    commits[name] = git(["rev-parse", "HEAD"]);
  };
  git(["init", "-q", "-b", "master"]);
  write("src/Kconfig", SYMBOL_FIXTURE_KCONFIG);
  write("src/board/Kconfig", BOARD_KCONFIG);
  write("Makefile", "all:\n\t@echo nothing to build\nolddefconfig:\n\tpython3 -m olddefconfig src/Kconfig\n");
  write("src/main.c", "int main(void) { return 0; }\n");
  write("logo.bin", "\x89PNG\0\0\0binary");
  fs.symlinkSync("Kconfig", path.join(dir, "src/Kconfig.link"));
  commit("v1");
  fs.mkdirSync(path.join(dir, "src/display"));
  write("src/display/Kconfig", lcd("first help"));
  fs.appendFileSync(path.join(dir, "src/Kconfig"), 'source "src/display/Kconfig"\n');
  commit("v2");
  write("src/main.c", "int main(void) { return 1; }\n");
  commit("v2b");
  write("src/display/Kconfig", lcd("second help, rewritten"));
  commit("v3");
  fs.rmSync(path.join(dir, "src/display/Kconfig"));
  write("src/Kconfig", SYMBOL_FIXTURE_KCONFIG);
  commit("v4");
  write("src/Kconfig", SYMBOL_FIXTURE_KCONFIG + "\nconfig BROKEN\n    bool \"unterminated\n    frobnicate\n");
  commit("v5");
  return { dir, commits: commits as SymbolFixtureRepo["commits"] };
}

/**
 * A Klipper-sized Kconfig tree (12 files, about 450 symbols: a choice of architectures,
 * per-architecture menus with a choice each, selects, ranges and help), for the index
 * time figure. Returns the files by path.
 */
export function klipperSizedTree(): Record<string, string> {
  const arches = ["avr", "atsam", "atsamd", "lpc176x", "stm32", "hc32f460", "rp2040", "pru", "ar100", "linux", "simulator"];
  const files: Record<string, string> = {};
  let top = `mainmenu "Klipper-sized fixture"\n\nchoice\n    prompt "Micro-controller Architecture"\n`;
  for (const a of arches) top += `config MACH_${a.toUpperCase()}\n    bool "${a}"\n`;
  top += "endchoice\n\n";
  for (const a of arches) top += `source "src/${a}/Kconfig"\n`;
  for (let i = 0; i < 40; i++) top += `\nconfig COMMON_${i}\n    bool "Common option ${i}"\n    default ${i % 3 ? "y" : "n"}\n    help\n      Common option number ${i}.\n`;
  files["src/Kconfig"] = top;
  for (const a of arches) {
    const A = a.toUpperCase();
    let k = `if MACH_${A}\n\nconfig ${A}_SELECT\n    bool\n    default y\n    select COMMON_1\n\nchoice\n    prompt "Processor model"\n`;
    for (let m = 0; m < 12; m++) k += `config ${A}_MODEL_${m}\n    bool "${a} model ${m}"\n`;
    k += "endchoice\n\nmenu \"Communication\"\n";
    for (let s = 0; s < 20; s++) {
      k += `\nconfig ${A}_OPT_${s}\n    ${s % 4 === 0 ? "int" : "bool"} "${a} option ${s}"\n`;
      if (s % 4 === 0) k += `    range 0 ${1000 + s}\n    default ${s}\n`;
      else k += `    depends on ${A}_MODEL_${s % 12} || ${A}_MODEL_0\n    default ${s % 2 ? "y" : "n"}\n`;
      k += `    help\n      ${a} option ${s} (generated).\n`;
    }
    k += "\nendmenu\n\nendif\n";
    files[`src/${a}/Kconfig`] = k;
  }
  return files;
}
