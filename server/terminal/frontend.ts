import { entryIn, type Recipe } from "../core/recipe";

/** The system's mconf inside the sandbox (Debian kconfig-frontends); the system's Kconfiglib is Debian's python3-kconfiglib. */
const SYSTEM_MCONF = "/usr/bin/kconfig-mconf";

export interface Frontend {
  /** What runs in the sandbox, at /work (the extracted kconfig tree). */
  argv: string[];
  /** Smaller terminals get a message instead of a broken screen. */
  minCols: number;
  minRows: number;
  /** Which copy runs, for logs and the session record. */
  source: "tree" | "system";
}

/**
 * How menuconfig runs on a kconfig tree, chosen by the recipe's frontend and by what
 * the tree ships: a tree's own copy wins (it matches the tree's Kconfig dialect), the
 * system's is the fallback. `files` is the bundle's file list; `ownMconf` says the
 * tree's own mconf was built (it is extracted to /work/<kconfigTools.dir>/mconf).
 */
export function chooseFrontend(recipe: Recipe, files: Set<string>, ownMconf = false, configPath = "/work/.config"): Frontend {
  // Sync refuses a tree without any candidate; the first one stands in for a bundle made before that check.
  const entry = entryIn(recipe, (f) => files.has(f)) ?? recipe.entry[0]!;
  if (recipe.frontend === "kconfiglib") {
    const own = files.has("lib/kconfiglib/menuconfig.py") && files.has("lib/kconfiglib/kconfiglib.py");
    return {
      // The system's menuconfig runs as a module: its bytecode is cached (a script would be compiled at every launch).
      argv: own ? ["python3", "/work/lib/kconfiglib/menuconfig.py", entry] : ["python3", "-m", "menuconfig", entry],
      // Kconfiglib's menuconfig draws (and says so itself) on any size it can.
      minCols: 0,
      minRows: 0,
      source: own ? "tree" : "system",
    };
  }
  // mconf refuses to draw below 80x19 ("Your display is too small").
  // A tree whose Makefile sets its tools' environment (Buildroot) gets its own `make menuconfig`, as a local run does.
  if (ownMconf && recipe.kconfigTools.viaMake) return { argv: ["make", "-s", "menuconfig", `${recipe.configVar}=${configPath}`], minCols: 80, minRows: 19, source: "tree" };
  if (ownMconf) return { argv: [`/work/${recipe.kconfigTools.dir}/mconf`, entry], minCols: 80, minRows: 19, source: "tree" };
  return { argv: [SYSTEM_MCONF, entry], minCols: 80, minRows: 19, source: "system" };
}
