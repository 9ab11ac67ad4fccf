import type { Kbs } from "../kbs";
import { SymbolService } from "./service";

/** Attach the symbol explorer (indexes, lookups, history) to kbs; needs projects and the Kconfig tools. */
export function attachSymbols(kbs: Kbs): void {
  kbs.symbols = new SymbolService(kbs);
}
