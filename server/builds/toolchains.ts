/**
 * Which compiler a config needs, by the architecture choice symbols it sets
 * (Klipper/Kalico's MACH_*, the demo tree's ARCH_*). A config whose compiler is not
 * in the build image fails before the build starts, saying which one is missing;
 * `packaged: false` names compilers Debian does not ship at all.
 */
export interface ToolchainRule {
  symbol: string;
  compiler: string;
  what: string;
  packaged: boolean;
}

const arm = (symbol: string, what: string): ToolchainRule => ({ symbol, compiler: "arm-none-eabi-gcc", what, packaged: true });

export const toolchainRules: ToolchainRule[] = [
  { symbol: "MACH_AVR", compiler: "avr-gcc", what: "Atmel AVR", packaged: true },
  arm("MACH_ATSAM", "SAM3/SAM4/SAME70"),
  arm("MACH_ATSAMD", "SAMC21/SAMD21/SAMD51/SAME5x"),
  arm("MACH_LPC176X", "LPC176x"),
  arm("MACH_STM32", "STM32"),
  arm("MACH_HC32F460", "HC32F460"),
  arm("MACH_RPXXXX", "Raspberry Pi RP2040/RP235x"),
  { symbol: "MACH_PRU", compiler: "pru-gcc", what: "Beaglebone PRU", packaged: false },
  { symbol: "MACH_AR100", compiler: "or1k-elf-gcc", what: "Allwinner A64 AR100", packaged: false },
  { symbol: "MACH_LINUX", compiler: "gcc", what: "Linux process", packaged: true },
  { symbol: "MACH_SIMU", compiler: "gcc", what: "simulator", packaged: true },
  arm("ARCH_ARM", "ARM Cortex-M"),
  { symbol: "ARCH_HOST", compiler: "gcc", what: "host", packaged: true },
];

