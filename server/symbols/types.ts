/** What symbol_index.py writes (format 1); the API returns entries as they are. */

export interface Conditional {
  /** The condition as Kconfig text; null when it always holds. */
  cond: string | null;
}

export interface SymbolEntry {
  name: string;
  /** bool, tristate, string, int, hex (or unknown) */
  type: string;
  prompts: Array<{ text: string } & Conditional>;
  help: string | null;
  /** Every definition site, file relative to the tree root. */
  sites: Array<{ file: string; line: number }>;
  /** The direct dependencies (`depends on`, enclosing menus and ifs). */
  dependsOn: string | null;
  /** When a prompt is shown (the prompts' conditions with the dependencies). */
  visibleIf: string | null;
  selects: Array<{ symbol: string } & Conditional>;
  selectedBy: Array<{ symbol: string } & Conditional>;
  implies: Array<{ symbol: string } & Conditional>;
  impliedBy: Array<{ symbol: string } & Conditional>;
  defaults: Array<{ value: string } & Conditional>;
  ranges: Array<{ low: string; high: string } & Conditional>;
  /** Per definition site, the menu prompts from the top down. */
  menu: string[][];
  choice: { name: string | null; prompt: string | null; members: string[]; default: string | null } | null;
  /** The other symbols its properties name (the UI links these). */
  refs: string[];
}

export interface SymbolIndexFile {
  format: number;
  /** Which Kconfiglib parsed the tree. */
  kconfiglib: "tree" | "system";
  version?: string | null;
  mainmenu?: string;
  warnings?: string[];
  warningCount?: number;
  symbols?: SymbolEntry[];
  /** Set when the tree's Kconfig did not parse; there are no symbols then. */
  error?: string;
}

/** Why a symbol has its value in a config (symbol_index.py `values`). */
export type ValueReason =
  | { kind: "user" }
  | { kind: "selected"; by: string[] }
  | { kind: "implied"; by: string[] }
  | { kind: "invisible"; because: string[] }
  | { kind: "default"; from?: string; cond?: string };

export interface SymbolValue {
  value: string;
  /** Written to the .config at all (false: its dependencies are not met). */
  inConfig: boolean;
  why: ValueReason;
}

export interface ConfigValuesFile {
  format: number;
  /** The symbols of the minimal form (savedefconfig): what the user chose. */
  chosen: string[];
  symbols: Record<string, SymbolValue>;
}
