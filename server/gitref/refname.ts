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
