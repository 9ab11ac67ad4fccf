import type { RunRequest, RunResult } from "../sandbox/types";

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


/** Every tool whose version a build manifest may list: make, the host compiler, ccache and the rules' compilers. */
const probedTools = [...new Set(["make", "gcc", "ccache", ...toolchainRules.filter((r) => r.packaged).map((r) => r.compiler)])];

const probes = new Map<string, Promise<string>>();

/**
 * `tool<TAB>first line of --version` for every tool the image has, probed once per image id
 * (the image definition's hash) and process, in a sandbox of that image that runs no project
 * code; build.sh copies the lines of the tools a config needs into toolchain.txt. A failed
 * probe is not kept: the next build probes again (and build.sh probes what is missing).
 */
export function toolchainVersions(sandbox: { run(req: RunRequest): Promise<RunResult> }, image: string, imageId: string): Promise<string> {
  let p = probes.get(imageId);
  if (!p) {
    const script = `for t in ${probedTools.join(" ")}; do command -v "$t" >/dev/null 2>&1 && printf '%s\\t%s\\n' "$t" "$("$t" --version 2>&1 | head -n1)"; done; true`;
    p = sandbox.run({ image, argv: ["/bin/sh", "-c", script], timeoutMs: 60_000 }).then((r) => {
      if (r.code !== 0) throw new Error(`toolchain probe exited with ${r.code}: ${r.stderr.toString().trim()}`);
      return r.stdout.toString();
    });
    p.catch(() => probes.delete(imageId));
    probes.set(imageId, p);
  }
  return p;
}
