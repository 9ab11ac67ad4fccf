import { parseConfig } from "./parse";

/** A plain reference to an upper-case make variable, `$(TOPDIR)` or `${ARCH}`. */
const VARIABLE_REF = /^(?:\$\([A-Z_][A-Z0-9_]*\)|\$\{[A-Z_][A-Z0-9_]*\})/;

/**
 * Whether a string value holds a make or shell expansion: `$(...)` or `${...}` (make
 * functions such as `$(shell ...)`, shell substitutions) or a backtick. A plain
 * upper-case variable reference is not one: Buildroot's own defaults are written so
 * (`"$(TOPDIR)/dl"`), make expands it to a value the project's Makefile defines, and
 * as shell it could only name a command no system has. `$$(...)` is always one: make
 * turns it into a shell command substitution.
 */
function expands(value: string): boolean {
  if (value.includes("`")) return true;
  for (let i = value.indexOf("$"); i >= 0; i = value.indexOf("$", i + 1)) {
    const next = value[i + 1];
    if (next !== "(" && next !== "{") continue;
    if (value[i - 1] === "$" || !VARIABLE_REF.test(value.slice(i))) return true;
  }
  return false;
}

/**
 * The symbols (without `CONFIG_`) whose string value holds a make or shell expansion.
 * A project's Makefile includes `.config`, so such a value is code that runs when the
 * config is built: in kbs's sandbox, and on the user's own machine when they run
 * `reproduce.sh`. kbs still builds it; pages, build records and reproduce.sh say so.
 */
export function configRunsCode(text: string): string[] {
  // Most configs have neither character; parsing a 300 KB one takes tens of ms.
  if (!text.includes("$") && !text.includes("`")) return [];
  const { entries, quoted } = parseConfig(text);
  return [...quoted].filter((symbol) => expands(entries.get(symbol)!)).sort();
}

const byConfigId = new Map<string, string[]>();
const REMEMBERED = 1000;

/** configRunsCode of a stored config, remembered by id (an id names its text), for views polled often. */
export function storedConfigRunsCode(config: { id: string; text: string }): string[] {
  let symbols = byConfigId.get(config.id);
  if (!symbols) {
    symbols = configRunsCode(config.text);
    if (byConfigId.size >= REMEMBERED) byConfigId.delete(byConfigId.keys().next().value!);
    byConfigId.set(config.id, symbols);
  }
  return symbols;
}

/** The warning every surface shows, naming the symbols. */
export const runsCodeWarning = (symbols: string[]) =>
  `This config runs commands when built; read it first. ${symbols.map((s) => `CONFIG_${s}`).join(", ")} ${symbols.length === 1 ? "holds" : "hold"} a make or shell expansion ($(...), \${...} or backticks).`;
