import type { Verification } from "../../contracts/api";

/** The verify result of a build as a badge: reproducible, not reproducible (naming what differs), verifying, or the rebuild failed. */
export function ReproducibleBadge({ verification }: { verification?: Verification | null }) {
  if (!verification) return null;
  const { state, reproducible, differences, error } = verification;
  const look =
    state === "running"
      ? { label: "verifying…", cls: "border-sky-600 text-sky-300", title: "Rebuilding on a fresh work tree without ccache to compare every artifact." }
      : state === "failed"
        ? { label: "verify failed", cls: "border-amber-600 text-amber-300", title: error ?? "The rebuild did not finish." }
        : reproducible
          ? { label: "reproducible", cls: "border-emerald-600 text-emerald-300", title: "A rebuild without ccache gave byte-identical artifacts." }
          : {
              label: "not reproducible",
              cls: "border-red-600 text-red-300",
              title: `Differs in the rebuild: ${differences.map((d) => `${d.name}${d.offset !== null ? ` from byte ${d.offset}` : ""}`).join(", ")}`,
            };
  return (
    <span className={`rounded-full border px-2 py-0.5 text-xs font-medium ${look.cls}`} title={look.title} data-reproducible={state === "done" ? String(reproducible) : state}>
      {look.label}
    </span>
  );
}
