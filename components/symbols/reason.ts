import type { ConfigValueReason } from "../../contracts/symbols";

/** A config value's reason, in words. */
export function reasonText(why: ConfigValueReason | null | undefined): string {
  if (!why) return "";
  switch (why.kind) {
    case "user":
      return "set by the user";
    case "selected":
      return `selected by ${why.by.join(", ")}`;
    case "implied":
      return `implied by ${why.by.join(", ")}`;
    case "invisible":
      return `invisible because ${why.because.join(" and ")} ${why.because.length > 1 ? "are" : "is"} n`;
    case "absent":
      return "not in this config's tree";
    default:
      return why.from !== undefined ? `the default (${why.from}${why.cond ? ` if ${why.cond}` : ""})` : "the default";
  }
}
