import crypto from "node:crypto";
import { describe, expect, it } from "vitest";
import { diffConfigs } from "./diff";
import { ConfigInputError, MAX_CONFIG_BYTES, normaliseConfig, parseConfig, parseConfigStrict } from "./parse";

const sample = `#
# Automatically generated file; DO NOT EDIT.
#
CONFIG_ARCH_HOST=y
# CONFIG_ARCH_ARM is not set
CONFIG_BOARD_NAME="demo-board"
CONFIG_BLINK_PERIOD_MS=500
CONFIG_FLASH_START=0x8000
CONFIG_MODULE=m

CONFIG_NEGATIVE=-3
`;

function inputError(fn: () => unknown): ConfigInputError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigInputError) return e;
    throw e;
  }
  throw new Error("expected a ConfigInputError");
}

describe(".config parsing", () => {
  it("reads every value form, with 'is not set' as n and comments skipped", () => {
    const p = parseConfigStrict(sample);
    expect(Object.fromEntries(p.entries)).toEqual({
      ARCH_HOST: "y",
      ARCH_ARM: "n",
      BOARD_NAME: "demo-board",
      BLINK_PERIOD_MS: "500",
      FLASH_START: "0x8000",
      MODULE: "m",
      NEGATIVE: "-3",
    });
    expect([...p.quoted]).toEqual(["BOARD_NAME"]);
    expect(p.warnings).toEqual([]);
  });

  it("normalises to sorted canonical text with LF endings, whatever the input order and line endings", () => {
    const crlf = sample.split("\n").reverse().join("\r\n");
    expect(normaliseConfig(crlf)).toBe(normaliseConfig(sample));
    expect(normaliseConfig(sample)).toBe(
      [
        "# CONFIG_ARCH_ARM is not set",
        "CONFIG_ARCH_HOST=y",
        "CONFIG_BLINK_PERIOD_MS=500",
        'CONFIG_BOARD_NAME="demo-board"',
        "CONFIG_FLASH_START=0x8000",
        "CONFIG_MODULE=m",
        "CONFIG_NEGATIVE=-3",
        "",
      ].join("\n"),
    );
    expect(normaliseConfig(normaliseConfig(sample))).toBe(normaliseConfig(sample));
  });

  it("keeps shell metacharacters and escapes in strings exactly, round trip", () => {
    const nasty = 'CONFIG_CMD="$(rm -rf /); `id` && echo \\"hi\\" | tee /x > /y; \\\\ \'q\' *"\n';
    const p = parseConfigStrict(nasty);
    expect(p.entries.get("CMD")).toBe('$(rm -rf /); `id` && echo "hi" | tee /x > /y; \\ \'q\' *');
    expect(normaliseConfig(nasty)).toBe(nasty);
  });

  it("takes the last of duplicate symbols, with a warning naming both lines", () => {
    const p = parseConfigStrict("CONFIG_A=y\nCONFIG_B=1\n# CONFIG_A is not set\n");
    expect(p.entries.get("A")).toBe("n");
    expect(p.warnings).toEqual([{ line: 3, message: expect.stringContaining("first on line 1") }]);
  });

  it("keeps unknown symbols (a tree decides what it knows, not the parser)", () => {
    expect(parseConfigStrict("CONFIG_NOT_IN_ANY_KCONFIG=y\n").entries.get("NOT_IN_ANY_KCONFIG")).toBe("y");
  });

  it("keeps a quoted y apart from a bare y", () => {
    expect(normaliseConfig('CONFIG_S="y"\n')).toBe('CONFIG_S="y"\n');
    expect(normaliseConfig('CONFIG_S="n"\n')).toBe('CONFIG_S="n"\n');
  });

  it("refuses lines that are neither settings nor comments, naming the line numbers", () => {
    const e = inputError(() => parseConfigStrict("CONFIG_A=y\nhello world\nCONFIG_B=maybe\nCONFIG_C=\"open\n"));
    expect(e.kind).toBe("invalid");
    expect(e.problems.map((p) => p.line)).toEqual([2, 3, 4]);
    expect(e.message).toMatch(/line 2: not a \.config line/);
    expect(e.message).toMatch(/line 3: CONFIG_B: the value must be/);
  });

  it("refuses binary garbage: NUL bytes and invalid UTF-8", () => {
    const garbage = crypto.randomBytes(4096);
    garbage[10] = 0;
    const e = inputError(() => parseConfig(garbage));
    expect(e.kind).toBe("invalid");
    expect(e.code).toBe("config_not_text");
    expect(inputError(() => parseConfig("CONFIG_A=y\nCONFIG_B=\0\n")).message).toMatch(/NUL byte on line 2/);
    expect(inputError(() => parseConfig(Buffer.from([0x43, 0xff, 0xfe, 0x0a]))).code).toBe("config_not_text");
  });

  it("refuses a 50 MB config with 413 naming the limit", () => {
    const big = Buffer.alloc(50 * 1024 * 1024, "CONFIG_A=y\n");
    const e = inputError(() => parseConfig(big));
    expect(e.kind).toBe("too_large");
    expect(e.message).toContain(`limit is ${MAX_CONFIG_BYTES} bytes`);
  });
});

describe("config diff", () => {
  it("lists added, removed and changed symbols", () => {
    const a = parseConfigStrict("CONFIG_A=y\nCONFIG_B=1\nCONFIG_C=\"x\"\n");
    const b = parseConfigStrict("CONFIG_A=y\nCONFIG_B=2\nCONFIG_D=m\n");
    expect(diffConfigs(a, b)).toEqual({
      added: [{ symbol: "D", value: "m" }],
      removed: [{ symbol: "C", value: "x" }],
      changed: [{ symbol: "B", from: "1", to: "2" }],
    });
  });
});
