/** C1 controls and the bidirectional-text controls (U+200E/F, U+202A-E, U+2066-9): a name with one reads differently from what it is. */
const HIDDEN_CHARS = "\\u0080-\\u009f\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069";
const HIDDEN = new RegExp(`[${HIDDEN_CHARS}]`, "u");
const UNPRINTABLE = new RegExp(`[\\x00-\\x1f\\x7f${HIDDEN_CHARS}]`, "gu");

/** A name for messages and logs: controls and the characters above shown as \u{...} escapes. */
export const printableName = (name: string) =>
  name.replace(UNPRINTABLE, (c) => `\\u{${c.charCodeAt(0).toString(16)}}`);

/**
 * Ref names kbs accepts, from a remote or from a user: git's own rules
 * (git-check-ref-format) plus no leading `-` in any component, so a name can never
 * be read as an option, and no non-printable characters at all.
 * Returns why a name is refused, or undefined when it is fine.
 */
export function refNameProblem(name: string): string | undefined {
  if (!name) return "is empty";
  if (name.length > 255) return "is longer than 255 characters";
  if (/[\x00-\x20\x7f]/.test(name)) return "contains a space or a control character";
  const hidden = HIDDEN.exec(name);
  if (hidden) return `contains the invisible ${hidden[0].charCodeAt(0) < 0xa0 ? "control" : "text-direction"} character U+${hidden[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, "0")}, which makes a name display as something it is not`;
  if (/[~^:?*[\\]/.test(name)) return "contains one of ~ ^ : ? * [ \\";
  if (name.includes("..")) return "contains '..'";
  if (name.includes("@{")) return "contains '@{'";
  if (name === "@") return "is '@'";
  if (name.includes("//")) return "contains an empty component";
  if (name.startsWith("/") || name.endsWith("/")) return "starts or ends with '/'";
  if (name.endsWith(".")) return "ends with '.'";
  for (const part of name.split("/")) {
    if (part.startsWith("-")) return "has a component starting with '-'";
    if (part.startsWith(".")) return "has a component starting with '.'";
    if (part.endsWith(".lock")) return "has a component ending with '.lock'";
  }
  return undefined;
}

export function isValidRefName(name: string): boolean {
  return refNameProblem(name) === undefined;
}
