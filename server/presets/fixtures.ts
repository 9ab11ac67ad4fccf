import fs from "node:fs";
import path from "node:path";
import { fixtureGit } from "../bench/fixtures";

/**
 * A Klipper-shaped printer-firmware tree, written for the tests and `kbs bench` (no
 * upstream text): src/Kconfig with an architecture choice and per-architecture
 * "Processor model", "Bootloader offset", "Clock Reference" and "Communication interface"
 * choices, a Makefile that builds with the host gcc, and board files under config/ whose
 * headers use the styles real board files use.
 *
 * Tags: v1.0 (the boards below), v1.1 (Kconfig moved on: one symbol new, one removed,
 * one default changed). Branch `hostile`: board files meant to break the parser.
 */
export interface PrinterFixture {
  dir: string;
  /** Expected outcome per preset id at v1.0: the symbols set (=y unless given) or the question kinds. */
  expected: Record<string, { complete: true; mcu: string; set: string[] } | { complete: false; kinds: string[] }>;
  /** Board files without configuration instructions (not presets). */
  notPresets: string[];
  /** What upgrading a v1.0 config to v1.1 reports. */
  upgrade: { new: string[]; removed: string[]; changed: string[] };
}

const KCONFIG = `mainmenu "Fixture printer firmware"

config LOW_LEVEL_OPTIONS
    bool "Enable extra low-level configuration options"

choice
    prompt "Micro-controller Architecture"
    config MACH_AVR
        bool "Atmega AVR"
    config MACH_STM32
        bool "STMicroelectronics STM32"
    config MACH_RPXXXX
        bool "Raspberry Pi RP2040"
    config MACH_LINUX
        bool "Linux process"
endchoice

source "src/avr/Kconfig"
source "src/stm32/Kconfig"
source "src/rp2040/Kconfig"

if MACH_LINUX
config MCU
    string
    default "linux"
endif

config HAVE_GPIO_BITBANGING
    bool
    default y

config INITIAL_PINS
    string "GPIO pins to set at micro-controller startup"
    depends on LOW_LEVEL_OPTIONS
    default ""
`;

const AVR = `if MACH_AVR
choice
    prompt "Processor model"
    config MACH_atmega2560
        bool "atmega2560"
    config MACH_atmega1284p
        bool "atmega1284p"
endchoice
config MCU
    string
    default "atmega2560" if MACH_atmega2560
    default "atmega1284p" if MACH_atmega1284p
config CLOCK_FREQ
    int
    default 16000000
endif
`;

const STM32 = (clockF1: number) => `if MACH_STM32
choice
    prompt "Processor model"
    config MACH_STM32F103
        bool "STM32F103"
        select MACH_STM32F1
    config MACH_STM32F401
        bool "STM32F401"
        select MACH_STM32F4
    config MACH_STM32G0B1
        bool "STM32G0B1"
        select MACH_STM32G0
    config MACH_STM32H723
        bool "STM32H723"
        select MACH_STM32H7
endchoice
config MACH_STM32F1
    bool
config MACH_STM32F4
    bool
config MACH_STM32G0
    bool
config MACH_STM32H7
    bool
config MCU
    string
    default "stm32f103xe" if MACH_STM32F103
    default "stm32f401xc" if MACH_STM32F401
    default "stm32g0b1xx" if MACH_STM32G0B1
    default "stm32h723xx" if MACH_STM32H723
config CLOCK_FREQ
    int
    default ${clockF1} if MACH_STM32F1
    default 84000000 if MACH_STM32F4
    default 64000000 if MACH_STM32G0
    default 400000000
choice
    prompt "Bootloader offset"
    config STM32_FLASH_START_2000
        bool "8KiB bootloader" if MACH_STM32F1 || MACH_STM32G0
    config STM32_FLASH_START_7000
        bool "28KiB bootloader" if MACH_STM32F1
    config STM32_FLASH_START_C000
        bool "48KiB bootloader" if MACH_STM32F4
    config STM32_FLASH_START_10000
        bool "64KiB bootloader" if MACH_STM32F4 || MACH_STM32F103
    config STM32_FLASH_START_20000
        bool "128KiB bootloader" if MACH_STM32H7
    config STM32_FLASH_START_20200
        bool "128KiB bootloader with 512 byte offset" if MACH_STM32F4
    config STM32_FLASH_START_0000
        bool "No bootloader"
endchoice
config FLASH_APPLICATION_ADDRESS
    hex
    default 0x8002000 if STM32_FLASH_START_2000
    default 0x8007000 if STM32_FLASH_START_7000
    default 0x800C000 if STM32_FLASH_START_C000
    default 0x8010000 if STM32_FLASH_START_10000
    default 0x8020000 if STM32_FLASH_START_20000
    default 0x8020200 if STM32_FLASH_START_20200
    default 0x8000000
choice
    prompt "Clock Reference" if LOW_LEVEL_OPTIONS
    config STM32_CLOCK_REF_8M
        bool "8 MHz crystal"
    config STM32_CLOCK_REF_12M
        bool "12 MHz crystal"
    config STM32_CLOCK_REF_25M
        bool "25 MHz crystal"
    config STM32_CLOCK_REF_INTERNAL
        bool "Internal clock"
endchoice
choice
    prompt "Communication interface"
    config STM32_USB_PA11_PA12
        bool "USB (on PA11/PA12)"
    config STM32_SERIAL_USART1
        bool "Serial (on USART1 PA10/PA9)"
    config STM32_SERIAL_USART3
        bool "Serial (on USART3 PB11/PB10)" if LOW_LEVEL_OPTIONS
    config STM32_CANBUS_PB8_PB9
        bool "CAN bus (on PB8/PB9)"
endchoice
endif
`;

const RP2040 = `if MACH_RPXXXX
choice
    prompt "Processor model"
    config MACH_RP2040
        bool "rp2040"
endchoice
config MCU
    string
    default "rp2040"
choice
    prompt "Bootloader offset"
    config RPXXXX_FLASH_START_0100
        bool "No bootloader"
    config RPXXXX_FLASH_START_4000
        bool "16KiB bootloader"
endchoice
config FLASH_APPLICATION_ADDRESS
    hex
    default 0x10004000 if RPXXXX_FLASH_START_4000
    default 0x10000100
choice
    prompt "Communication interface"
    config RPXXXX_USB
        bool "USB"
    config RPXXXX_SERIAL_UART0
        bool "Serial (on UART0 GPIO1/GPIO0)"
endchoice
endif
`;

/** What v1.1 adds to the top Kconfig (one new prompted symbol; HAVE_GPIO_BITBANGING goes). */
const V11_ADDITION = `
config USB_SERIAL_NUMBER_CHIPID
    bool "Use the chip id as the USB serial number"
    default y
`;

const MAKEFILE = `# Fixture printer firmware: Kconfiglib (the tree's lib/kconfiglib), out/ for outputs.
KCONFIG_CONFIG ?= $(CURDIR)/.config
export KCONFIG_CONFIG
PYTHON ?= python3
OUT := out

-include $(KCONFIG_CONFIG)

all: $(OUT)/klipper.bin $(OUT)/klipper.dict

$(OUT)/autoconf.h: $(KCONFIG_CONFIG)
\t@mkdir -p $(OUT)
\tKCONFIG_AUTOHEADER=$@ $(PYTHON) lib/kconfiglib/genconfig.py src/Kconfig

$(OUT)/klipper.elf: src/main.c $(OUT)/autoconf.h
\tgcc -O1 -Wall -I$(OUT) -o $@ src/main.c

$(OUT)/klipper.bin: $(OUT)/klipper.elf
\tcp $< $@

$(OUT)/klipper.dict: $(OUT)/autoconf.h
\tprintf '{"version": "fixture", "mcu": "%s"}\\n' $(CONFIG_MCU) > $@

menuconfig:
\t$(PYTHON) lib/kconfiglib/menuconfig.py src/Kconfig

olddefconfig:
\t$(PYTHON) lib/kconfiglib/olddefconfig.py src/Kconfig

.PHONY: all menuconfig olddefconfig
`;

const MAIN_C = `#include <stdio.h>
#include "autoconf.h"
int main(void) { printf("fixture firmware for %s\\n", CONFIG_MCU); return 0; }
`;

/** Board files in the styles of real headers (wording written for this fixture). */
const BOARDS: Record<string, string> = {
  "generic-skr-mini-e3-v3.cfg": `# Pin mappings for the fixture SKR mini E3 V3 board. To use this
# config, the firmware should be compiled for the STM32G0B1 with a
# "8KiB bootloader" and USB communication.

# "make flash" does not work here. After "make", copy the generated
# "out/klipper.bin" to a file named "firmware.bin" on an SD card and
# restart the board with that card.

[mcu]
serial: /dev/serial/by-id/fixture
`,
  "generic-robin-nano-v3.cfg": `# Pin mappings for the fixture Robin Nano V3 board. To use this config,
# the firmware should be compiled for the stm32f401. When running
# "make menuconfig", select the 48KiB bootloader, and enable "USB for
# communication".

# Copy the generated "out/klipper.bin" file to a file named
# "Robin_nano_v3.bin" on an SD card and restart the board.

[mcu]
`,
  "generic-octopus-h723.cfg": `# Pin mappings for the fixture Octopus H723 board.

# To use this config, during "make menuconfig", select "Enable
# low-level configuration options", select the STM32H723
# micro-controller, select a "128KiB bootloader", and select a "25 MHz
# crystal".

[mcu]
`,
  "generic-s6-like.cfg": `# Pin mappings for the fixture S6-like board. To use this config, the
# firmware should be compiled for the STM32F401 with a "64KiB bootloader".
# When calling "menuconfig", enable "extra low-level configuration
# setup" and select the "12MHz crystal" as clock reference.

[mcu]
`,
  "printer-fixture-mega-2019.cfg": `# Config for the fixture Mega printer (2019). To use this config, the
# firmware should be compiled for the AVR atmega2560.

# Flash with: make flash FLASH_DEVICE=/dev/ttyACM0

[mcu]
`,
  "sample-canbus-toolhead.cfg": `# Pin mappings for the fixture CAN toolhead. To use this config, the
# firmware should be compiled for the STM32F103 with "8 MHz crystal" and
# "USB (on PA11/PA12)" or "CAN bus (on PB8/PB9)".

[mcu toolhead]
`,
  "generic-missing-phrase.cfg": `# Pin mappings for a fixture board whose header names a bootloader
# this revision does not have. To use this config, the firmware should
# be compiled for the STM32F103 with a "30KiB bootloader" and USB
# communication.

[mcu]
`,
  "printer-two-chips-2021.cfg": `# Config for the fixture two-chip printer. To use this config, check
# the STM32 chip on the mainboard, during "make menuconfig" select
# accordingly either the STM32F103 with "28KiB bootloader" or the
# STM32F401 with "64KiB bootloader" and serial (on USART1 PA10/PA9) for both.

# For a direct serial connection, in "make menuconfig" select
# "Enable extra low-level configuration options" and serial (on USART3
# PB11/PB10).

# Copy "out/klipper.bin" to an SD card; the file name must be changed
# to "firmware.bin".

[mcu]
`,
  "generic-pico-like.cfg": `# Pin mappings for the fixture Pico-like board. To use this config, the
# firmware should be compiled for the RP2040 with USB communication.

# After "make", copy the generated "out/klipper.uf2" file to the mass
# storage device in RP2040 boot mode.

[mcu]
`,
  "printer-list-style-2021.cfg": `# Config for the fixture list-style printer.
#
# To create the firmware use the following configuration:
#     - Micro-controller: STM32
#     - Processor model: STM32F401
#     - Bootloader offset: 64KiB
#     - Communication interface: Serial (on USART1 PA10/PA9)

[mcu]
`,
  "generic-unknown-chip.cfg": `# Pin mappings for a fixture board on an unnamed chip. Identify the
# micro-controller first; the firmware should be compiled for the chip
# fitted to your board revision.

[mcu]
`,
  "example-cartesian.cfg": `# An example config for cartesian printers. Copy and edit it to
# configure a new printer.

[printer]
kinematics: cartesian
`,
};

const EXPECTED: PrinterFixture["expected"] = {
  "generic-skr-mini-e3-v3": { complete: true, mcu: "STM32G0B1", set: ["MACH_STM32", "MACH_STM32G0B1", "STM32_FLASH_START_2000", "STM32_USB_PA11_PA12"] },
  "generic-robin-nano-v3": { complete: true, mcu: "STM32F401", set: ["MACH_STM32F401", "STM32_FLASH_START_C000", "STM32_USB_PA11_PA12"] },
  "generic-octopus-h723": { complete: true, mcu: "STM32H723", set: ["MACH_STM32H723", "LOW_LEVEL_OPTIONS", "STM32_FLASH_START_20000", "STM32_CLOCK_REF_25M"] },
  "generic-s6-like": { complete: true, mcu: "STM32F401", set: ["MACH_STM32F401", "STM32_FLASH_START_10000", "LOW_LEVEL_OPTIONS", "STM32_CLOCK_REF_12M"] },
  "printer-fixture-mega-2019": { complete: true, mcu: "atmega2560", set: ["MACH_AVR", "MACH_atmega2560"] },
  "printer-list-style-2021": { complete: true, mcu: "STM32F401", set: ["MACH_STM32F401", "STM32_FLASH_START_10000", "STM32_SERIAL_USART1"] },
  "generic-pico-like": { complete: true, mcu: "rp2040", set: ["MACH_RPXXXX", "MACH_RP2040", "RPXXXX_USB"] },
  "sample-canbus-toolhead": { complete: false, kinds: ["alternatives"] },
  "generic-missing-phrase": { complete: false, kinds: ["unmatched"] },
  "printer-two-chips-2021": { complete: false, kinds: ["mcu"] },
  "generic-unknown-chip": { complete: false, kinds: ["mcu"] },
};

/** Hostile board files (branch `hostile`): parsed as text in the sandbox, never run anywhere. */
export function hostileBoards(marker: string): Record<string, Buffer> {
  const huge = Buffer.from(`# ${"To use this config, the firmware should be compiled for the STM32F103. ".repeat(4)}\n`.repeat(7_000));
  const binary = Buffer.concat([Buffer.from("# To use this config, the firmware should be compiled for the "), Buffer.from([0, 1, 2, 0xff, 0xfe, 0x1b, 0x5b, 0x32, 0x4a]), Buffer.from(' STM32F103 with a "\u0000\u00ff8KiB bootloader".\n')]);
  const shell = Buffer.from(
    `# To use this config, the firmware should be compiled for the STM32F103 with\n# a "$(shell,touch ${marker})" bootloader and "\`touch ${marker}\`" communication; $(touch ${marker}).\n`,
  );
  return { "config/hostile-huge.cfg": huge, "config/hostile-binary.cfg": binary, "config/hostile-shell.cfg": shell };
}

export function createPrinterFixtureRepo(dir: string, opts: { hostileMarker?: string } = {}): PrinterFixture {
  let t = 1_700_000_000;
  const git = (args: string[]) => fixtureGit(dir, args, { date: `${t} +0000` });
  const write = (rel: string, text: string | Buffer) => {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), text);
  };
  const commit = (msg: string) => {
    t += 3600;
    git(["add", "-A"]);
    git(["commit", "-q", "-m", msg]);
  };
  fs.mkdirSync(dir, { recursive: true });
  git(["init", "-q", "-b", "master"]);
  // The tree's own Kconfiglib, as Klipper keeps one in lib/kconfiglib (here: Debian's copy).
  for (const f of ["kconfiglib.py", "menuconfig.py", "olddefconfig.py", "savedefconfig.py", "genconfig.py"]) {
    write(`lib/kconfiglib/${f}`, fs.readFileSync(path.join("/usr/lib/python3/dist-packages", f)));
  }
  write("src/Kconfig", KCONFIG);
  write("src/avr/Kconfig", AVR);
  write("src/stm32/Kconfig", STM32(72_000_000));
  write("src/rp2040/Kconfig", RP2040);
  write("src/main.c", MAIN_C);
  write("Makefile", MAKEFILE);
  for (const [name, text] of Object.entries(BOARDS)) write(`config/${name}`, text);
  commit("fixture printer firmware v1.0");
  git(["tag", "-a", "v1.0", "-m", "v1.0"]);

  git(["checkout", "-q", "-b", "hostile"]);
  for (const [name, data] of Object.entries(hostileBoards(opts.hostileMarker ?? "/tmp/kbs-hostile-header-ran"))) write(name, data);
  commit("fixture: hostile board files");
  git(["checkout", "-q", "master"]);

  write("src/Kconfig", KCONFIG.replace(/\nconfig HAVE_GPIO_BITBANGING\n {4}bool\n {4}default y\n/, "\n") + V11_ADDITION);
  write("src/stm32/Kconfig", STM32(48_000_000));
  commit("Kconfig: chip-id serial numbers; F1 clock");
  git(["tag", "-a", "v1.1", "-m", "v1.1"]);

  return {
    dir,
    expected: EXPECTED,
    notPresets: ["example-cartesian"],
    upgrade: { new: ["USB_SERIAL_NUMBER_CHIPID"], removed: ["HAVE_GPIO_BITBANGING"], changed: ["CLOCK_FREQ"] },
  };
}
