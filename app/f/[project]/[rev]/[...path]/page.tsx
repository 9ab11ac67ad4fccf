import type { Metadata } from "next";
import { apiPath } from "../../../../../contracts/urls";
import { serverText } from "../../../../../components/api/server";
import { ErrorNote } from "../../../../../components/ui/ErrorNote";
import { panel } from "../../../../../components/ui/styles";

export const metadata: Metadata = { title: "Tree file — kbs" };

/** A file of one revision's tree with numbered, linkable lines (#L12): where symbol definition sites point. */
export default async function Page(props: { params: Promise<{ project: string; rev: string; path: string[] }> }) {
  const p = await props.params;
  const project = decodeURIComponent(p.project);
  const rev = decodeURIComponent(p.rev);
  const file = p.path.map(decodeURIComponent).join("/");
  let text: string | undefined;
  let error: string | undefined;
  try {
    text = await serverText(apiPath.treeFile(project, rev, file));
  } catch (e) {
    error = (e as Error).message;
  }
  const lines = text?.replace(/\n$/, "").split("\n") ?? [];
  return (
    <main className="mx-auto flex max-w-6xl flex-col gap-3 px-3 py-5 sm:px-6">
      <h1 className="break-all font-mono text-base">
        {file} <span className="text-slate-400">in {project} @ {rev.length === 40 ? rev.slice(0, 12) : rev}</span>
      </h1>
      {error && <ErrorNote>{error}</ErrorNote>}
      {text !== undefined && (
        <div className={panel + " overflow-x-auto"}>
          <table className="w-full border-collapse font-mono text-xs" aria-label={file}>
            <tbody>
              {lines.map((l, i) => (
                <tr key={i} id={`L${i + 1}`} className="target:bg-emerald-950">
                  <td className="select-none px-2 text-right align-top text-slate-500">
                    <a href={`#L${i + 1}`}>{i + 1}</a>
                  </td>
                  <td className="whitespace-pre px-2 text-slate-200">{l}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </main>
  );
}
