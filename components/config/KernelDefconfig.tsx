import { apiPath } from "../../contracts/urls";
import { serverText, ServerApiError } from "../api/server";
import { ErrorNote } from "../ui/ErrorNote";
import { button, input, panel } from "../ui/styles";

const lineColor = (l: string) =>
  l.startsWith("+++") || l.startsWith("---") ? "text-slate-500" : l.startsWith("+") ? "bg-emerald-950/50 text-emerald-300" : l.startsWith("-") ? "bg-red-950/50 text-red-300" : l.startsWith("@@") ? "text-sky-300" : "text-slate-400";

/**
 * For kernels: this config's minimal form against the tree's arch/<arch>/configs/<name>_defconfig
 * (a plain GET form, rendered on the server), and the `git am` patch that updates that file.
 */
export async function KernelDefconfig(props: { configId: string; name?: string; arch?: string }) {
  let diff: string | undefined;
  let error: string | undefined;
  if (props.name) {
    try {
      diff = await serverText(apiPath.defconfigDiff(props.configId, { against: props.name, arch: props.arch }));
    } catch (e) {
      error = e instanceof ServerApiError ? e.message : String(e);
    }
  }
  return (
    <section className={panel + " p-3"} aria-labelledby="kernel-heading">
      <div className="mb-2 flex flex-wrap items-center justify-between gap-2">
        <h2 id="kernel-heading" className="text-sm font-semibold">
          Against the tree&apos;s defconfig
        </h2>
        <form method="get" className="flex flex-wrap gap-2">
          <input name="defconfig" defaultValue={props.name ?? ""} aria-label="Defconfig name" placeholder="x86_64 or defconfig" className={input + " w-40 font-mono"} />
          <input name="arch" defaultValue={props.arch ?? ""} aria-label="ARCH (optional)" placeholder="ARCH (auto)" className={input + " w-28 font-mono"} />
          <button type="submit" className={button.secondary}>
            Diff
          </button>
        </form>
      </div>
      {!props.name && <p className="text-xs text-slate-500">Name a defconfig of the tree (arch/&lt;arch&gt;/configs/&lt;name&gt;_defconfig) to see how this config&apos;s minimal form differs, and get a patch.</p>}
      {error && <ErrorNote>{error}</ErrorNote>}
      {diff !== undefined &&
        (diff.trim() === "" ? (
          <p className="text-sm text-slate-400">The minimal form is exactly that defconfig: nothing to patch.</p>
        ) : (
          <>
            <pre aria-label="Defconfig diff" className="max-h-96 overflow-auto rounded border border-slate-800 font-mono text-xs leading-5">
              {diff.split("\n").map((l, i) => (
                <div key={i} className={`px-2 ${lineColor(l)}`}>
                  {l || " "}
                </div>
              ))}
            </pre>
            <a className={button.secondary + " mt-2"} href={apiPath.defconfigPatch(props.configId, { name: props.name ?? "", arch: props.arch })} download>
              Download patch (git am)
            </a>
          </>
        ))}
    </section>
  );
}
