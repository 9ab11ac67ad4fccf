import { z } from "zod";

/**
 * The symbol explorer's data: what symbol_index.py writes (format 1), which the API
 * returns as it is, and the API's views around it (DESIGN.md "HTTP API").
 */

/** The condition as Kconfig text; null when it always holds. */
const cond = z.string().nullable();
const conditional = <T extends z.ZodRawShape>(shape: T) => z.object({ ...shape, cond });

export const SymbolEntry = z.object({
  name: z.string(),
  /** bool, tristate, string, int, hex (or unknown) */
  type: z.string(),
  prompts: z.array(conditional({ text: z.string() })),
  help: z.string().nullable(),
  /** Every definition site, file relative to the tree root. */
  sites: z.array(z.object({ file: z.string(), line: z.number() })),
  /** The direct dependencies (`depends on`, enclosing menus and ifs). */
  dependsOn: z.string().nullable(),
  /** When a prompt is shown (the prompts' conditions with the dependencies). */
  visibleIf: z.string().nullable(),
  selects: z.array(conditional({ symbol: z.string() })),
  selectedBy: z.array(conditional({ symbol: z.string() })),
  implies: z.array(conditional({ symbol: z.string() })),
  impliedBy: z.array(conditional({ symbol: z.string() })),
  defaults: z.array(conditional({ value: z.string() })),
  ranges: z.array(conditional({ low: z.string(), high: z.string() })),
  /** Per definition site, the menu prompts from the top down. */
  menu: z.array(z.array(z.string())),
  choice: z.object({ name: z.string().nullable(), prompt: z.string().nullable(), members: z.array(z.string()), default: z.string().nullable() }).nullable(),
  /** The other symbols its properties name (the UI links these). */
  refs: z.array(z.string()),
});
export type SymbolEntry = z.infer<typeof SymbolEntry>;

export const SymbolIndexFile = z.object({
  format: z.number(),
  /** Which Kconfiglib parsed the tree. */
  kconfiglib: z.enum(["tree", "system"]),
  version: z.string().nullable().optional(),
  mainmenu: z.string().optional(),
  warnings: z.array(z.string()).optional(),
  warningCount: z.number().optional(),
  symbols: z.array(SymbolEntry).optional(),
  /** Set when the tree's Kconfig did not parse; there are no symbols then. */
  error: z.string().optional(),
});
export type SymbolIndexFile = z.infer<typeof SymbolIndexFile>;

/** Why a symbol has its value in a config (symbol_index.py `values`). */
export const ValueReason = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("user") }),
  z.object({ kind: z.literal("selected"), by: z.array(z.string()) }),
  z.object({ kind: z.literal("implied"), by: z.array(z.string()) }),
  z.object({ kind: z.literal("invisible"), because: z.array(z.string()) }),
  z.object({ kind: z.literal("default"), from: z.string().optional(), cond: z.string().optional() }),
]);
export type ValueReason = z.infer<typeof ValueReason>;

/** A value's reason in the API: symbol_index.py's, or `absent` when the symbol is not in the config's tree. */
export const ConfigValueReason = z.union([ValueReason, z.object({ kind: z.literal("absent") })]);
export type ConfigValueReason = z.infer<typeof ConfigValueReason>;

export const SymbolValue = z.object({
  value: z.string(),
  /** Written to the .config at all (false: its dependencies are not met). */
  inConfig: z.boolean(),
  why: ValueReason,
});
export type SymbolValue = z.infer<typeof SymbolValue>;

export const ConfigValuesFile = z.object({
  format: z.number(),
  /** The symbols of the minimal form (savedefconfig): what the user chose. */
  chosen: z.array(z.string()),
  symbols: z.record(z.string(), SymbolValue),
});
export type ConfigValuesFile = z.infer<typeof ConfigValuesFile>;

/** GET /api/projects/:id/revisions/:rev/symbols/:name (`?config=` adds the value there and why). */
export const SymbolLookup = SymbolEntry.extend({
  rev: z.string(),
  describe: z.string(),
  kconfigHash: z.string(),
  kconfiglib: z.string(),
  config: z
    .object({ id: z.string(), describe: z.string(), value: z.string().nullable(), inConfig: z.boolean(), why: ConfigValueReason })
    .optional(),
});
export type SymbolLookup = z.infer<typeof SymbolLookup>;

export const SymbolHit = z.object({
  name: z.string(),
  type: z.string(),
  prompt: z.string().nullable(),
  match: z.enum(["prefix", "name", "prompt"]),
});
export type SymbolHit = z.infer<typeof SymbolHit>;

/** GET /api/projects/:id/revisions/:rev/symbols?q= */
export const SymbolSearchResult = z.object({
  rev: z.string(),
  describe: z.string(),
  kconfigHash: z.string(),
  total: z.number(),
  symbols: z.array(SymbolHit),
});
export type SymbolSearchResult = z.infer<typeof SymbolSearchResult>;

const RevPoint = z.object({ rev: z.string(), sha: z.string() });

/** GET /api/projects/:id/symbols/:name/history */
export const SymbolHistory = z.object({
  symbol: z.string(),
  first: RevPoint.nullable(),
  last: RevPoint.nullable(),
  changes: z.array(RevPoint.extend({ kind: z.enum(["added", "changed", "removed"]), parts: z.array(z.string()).optional() })),
  trees: z.object({ total: z.number(), indexed: z.number(), unparsed: z.number(), pending: z.number() }),
});
export type SymbolHistory = z.infer<typeof SymbolHistory>;

/** GET /api/configs/:id/symbols: what the user chose, and why every changed symbol has its value. */
export const ConfigSymbols = z.object({
  id: z.string(),
  project: z.string(),
  commit: z.string(),
  chosen: z.array(z.string()),
  changed: z.array(
    z.object({ symbol: z.string(), value: z.string(), default: z.string().nullable(), chosen: z.boolean(), inConfig: z.boolean(), why: ValueReason.nullable() }),
  ),
});
export type ConfigSymbols = z.infer<typeof ConfigSymbols>;
