import { describe, expect, it } from "vitest";
import { configRunsCode } from "./runs-code";

const config = (values: Record<string, string>) =>
  Object.entries(values)
    .map(([k, v]) => `CONFIG_${k}="${v.replace(/[\\"]/g, (c) => `\\${c}`)}"\n`)
    .join("");

describe("configRunsCode", () => {
  it("names the string symbols with make functions, shell substitutions or backticks", () => {
    const text =
      config({
        SHELL_FN: "-O2 $(shell id >&2)",
        CALL: "$(call x,y)",
        BRACES: "${X:-$(id)}",
        SUBST: "$$(id)",
        SHELL_VAR: "$${HOME}",
        BACKTICK: "`id`",
        LOWER: "$(id)",
        ESCAPED: 'a \\"$(shell id)\\"',
      }) + "CONFIG_NUM=3\nCONFIG_ON=y\n";
    expect(configRunsCode(text)).toEqual(["BACKTICK", "BRACES", "CALL", "ESCAPED", "LOWER", "SHELL_FN", "SHELL_VAR", "SUBST"]);
  });

  it("leaves plain text and Buildroot-style upper-case variable references alone", () => {
    // Buildroot's own defaults: BR2_DL_DIR "$(TOPDIR)/dl", BR2_HOST_DIR "$(BASE_DIR)/host", "$(ARCH)-linux".
    const text = config({ DL: "$(TOPDIR)/dl", HOST: "${BASE_DIR}/host", TUPLE: "$(ARCH)-linux", PRICE: "costs $5", DOLLAR: "$", BOARD: "Klipper (x) {y}" });
    expect(configRunsCode(text)).toEqual([]);
    expect(configRunsCode("")).toEqual([]);
  });
});
