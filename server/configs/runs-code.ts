import { parseConfig } from "./parse";

/** `$(...)` and `${...}` (make functions and variables, shell substitutions) and shell backticks. */
const EXPANSION = /\$[({]|`/;

/**
 * The symbols (without `CONFIG_`) whose string value holds a make or shell expansion.
 * A project's Makefile includes `.config`, so such a value is code that runs when the
 * config is built: in kbs's sandbox, and on the user's own machine when they run
 * `reproduce.sh`. kbs still builds it; pages, build records and reproduce.sh say so.
 */
export function configRunsCode(text: string): string[] {
  const { entries, quoted } = parseConfig(text);
  return [...quoted].filter((symbol) => EXPANSION.test(entries.get(symbol)!)).sort();
}

/** The warning every surface shows, naming the symbols. */
export const runsCodeWarning = (symbols: string[]) =>
  `This config runs commands when built; read it first. ${symbols.map((s) => `CONFIG_${s}`).join(", ")} ${symbols.length === 1 ? "holds" : "hold"} a make or shell expansion ($(...), \${...} or backticks).`;
