/**
 * `.config` parsing and the canonical form every stored config is kept in.
 *
 * A `.config` is a list of `CONFIG_X=value` and `# CONFIG_X is not set` lines (the
 * prefix is the recipe's `symbolPrefix`: Buildroot writes `BR2_X`), with
 * comments and blank lines around them. Values stay text: nothing here (or anywhere
 * in kbs) interprets a string value, so shell metacharacters are kept as written.
 */
import { KbsError } from "../core/errors";

/** The largest `.config` kbs accepts (a full Linux allyesconfig is about 300 KB). */
export const MAX_CONFIG_BYTES = 1024 * 1024;

export interface ConfigProblem {
  line: number;
  message: string;
}

export interface ParsedConfig {
  /** Symbol (without `CONFIG_`) -> value: `y`, `m`, `n`, a number as written, or a string's plain text. */
  entries: Map<string, string>;
  /** Symbols whose value was a double-quoted string (so `"y"` and `y` stay different). */
  quoted: Set<string>;
  /** Lines that are not `.config` lines; a config with any is refused. */
  errors: ConfigProblem[];
  /** Accepted but worth saying (duplicate symbols: the last one wins, as in Kconfig). */
  warnings: ConfigProblem[];
}

/** Thrown for input that is not a `.config` (or over the size limit); the bad lines go with it as `details.problems`. */
export class ConfigInputError extends KbsError {
  constructor(
    kind: "invalid" | "too_large",
    code: string,
    message: string,
    readonly problems: ConfigProblem[] = [],
  ) {
    super(kind, code, message, { details: problems.length ? { problems } : undefined });
  }
}

/** The default symbol prefix (a recipe's `symbolPrefix`). */
export const DEFAULT_PREFIX = "CONFIG_";

const lineRes = new Map<string, { set: RegExp; notSet: RegExp }>();
/** The set / not-set line patterns for a prefix (upper-case letters, digits and _, as the recipe schema allows). */
function linePatterns(prefix: string): { set: RegExp; notSet: RegExp } {
  let re = lineRes.get(prefix);
  if (!re) {
    if (!/^([A-Z][A-Z0-9_]*_)?$/.test(prefix)) throw new Error(`not a symbol prefix: ${prefix}`);
    re = { set: new RegExp(`^${prefix}([A-Za-z0-9_]+)=(.*)$`), notSet: new RegExp(`^#\\s*${prefix}([A-Za-z0-9_]+) is not set\\s*$`) };
    lineRes.set(prefix, re);
  }
  return re;
}
const NUMBER = /^(-?[0-9]+|0[xX][0-9a-fA-F]+)$/;
const QUOTED = /^"((?:[^"\\]|\\.)*)"$/;
const MAX_REPORTED = 20;

/** Decode bytes as UTF-8 text, refusing binary data (NUL bytes, invalid UTF-8) and oversize input. */
export function decodeConfig(input: Buffer | string): string {
  const size = typeof input === "string" ? Buffer.byteLength(input) : input.length;
  if (size > MAX_CONFIG_BYTES) {
    throw new ConfigInputError("too_large", "config_too_large", `The config is ${size} bytes; the limit is ${MAX_CONFIG_BYTES} bytes (1 MiB). A .config is normally well under 100 KB: is this the right file?`);
  }
  let text: string;
  if (typeof input === "string") text = input;
  else {
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(input);
    } catch {
      throw new ConfigInputError("invalid", "config_not_text", "The config is not UTF-8 text (binary data?). Upload the .config file that menuconfig writes.");
    }
  }
  const nul = text.indexOf("\0");
  if (nul >= 0) {
    const line = text.slice(0, nul).split("\n").length;
    throw new ConfigInputError("invalid", "config_not_text", `The config holds a NUL byte on line ${line}: it is binary data, not a .config.`, [{ line, message: "NUL byte" }]);
  }
  return text;
}

export function parseConfig(input: Buffer | string, prefix = DEFAULT_PREFIX): ParsedConfig {
  const text = decodeConfig(input);
  const { set: SET, notSet: NOT_SET } = linePatterns(prefix);
  const entries = new Map<string, string>();
  const quoted = new Set<string>();
  const errors: ConfigProblem[] = [];
  const warnings: ConfigProblem[] = [];
  const firstSeen = new Map<string, number>();
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  lines.forEach((raw, i) => {
    const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    const n = i + 1;
    const trimmed = line.trim();
    let symbol: string;
    let value: string;
    let isQuoted = false;
    const notSet = NOT_SET.exec(trimmed);
    const set = SET.exec(trimmed);
    if (notSet) {
      symbol = notSet[1]!;
      value = "n";
    } else if (set) {
      symbol = set[1]!;
      const v = set[2]!;
      const q = QUOTED.exec(v);
      if (q) {
        value = q[1]!.replace(/\\(.)/g, "$1");
        isQuoted = true;
      } else if (v === "y" || v === "m" || v === "n" || NUMBER.test(v)) {
        value = v;
      } else {
        errors.push({ line: n, message: `${prefix}${symbol}: the value must be y, m, n, a number or a "double-quoted string", not ${JSON.stringify(v.slice(0, 40))}` });
        return;
      }
    } else if (trimmed === "" || trimmed.startsWith("#")) {
      return;
    } else {
      errors.push({ line: n, message: `not a .config line: ${JSON.stringify(line.slice(0, 60))}` });
      return;
    }
    const before = firstSeen.get(symbol);
    if (before !== undefined) warnings.push({ line: n, message: `${prefix}${symbol} is set again (first on line ${before}); the last value wins` });
    else firstSeen.set(symbol, n);
    entries.set(symbol, value);
    if (isQuoted) quoted.add(symbol);
    else quoted.delete(symbol);
  });
  return { entries, quoted, errors, warnings };
}

/** Parse and refuse a config with any bad line, naming the lines (first 20). */
export function parseConfigStrict(input: Buffer | string, prefix = DEFAULT_PREFIX): ParsedConfig {
  const parsed = parseConfig(input, prefix);
  if (parsed.errors.length) {
    const shown = parsed.errors.slice(0, MAX_REPORTED).map((e) => `line ${e.line}: ${e.message}`);
    const more = parsed.errors.length > MAX_REPORTED ? `; and ${parsed.errors.length - MAX_REPORTED} more` : "";
    throw new ConfigInputError("invalid", "bad_config", `This is not a valid .config (${parsed.errors.length} bad line${parsed.errors.length === 1 ? "" : "s"}): ${shown.join("; ")}${more}`, parsed.errors);
  }
  return parsed;
}

const quote = (s: string) => `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`;

/** One line of the canonical form. */
export function configLine(symbol: string, value: string, isQuoted: boolean, prefix = DEFAULT_PREFIX): string {
  if (!isQuoted && value === "n") return `# ${prefix}${symbol} is not set`;
  return `${prefix}${symbol}=${isQuoted ? quote(value) : value}`;
}

/** The canonical form: one line per symbol, sorted by name, `n` as "is not set", LF endings, no comments. */
export function formatConfig(parsed: Pick<ParsedConfig, "entries" | "quoted">, prefix = DEFAULT_PREFIX): string {
  const symbols = [...parsed.entries.keys()].sort();
  return symbols.map((s) => configLine(s, parsed.entries.get(s)!, parsed.quoted.has(s), prefix) + "\n").join("");
}

export function normaliseConfig(input: Buffer | string, prefix = DEFAULT_PREFIX): string {
  return formatConfig(parseConfigStrict(input, prefix), prefix);
}
