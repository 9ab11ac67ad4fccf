import { CopyButton } from "../ui/CopyButton";

/** A config text with copy and download; readable without JavaScript. */
export function ConfigText(props: { id: string; title: string; text: string; href: string; filename: string; open?: boolean }) {
  const lines = props.text.split("\n").filter(Boolean).length;
  return (
    <details open={props.open} className="group rounded-lg border border-slate-800 bg-slate-900/60">
      <summary className="flex cursor-pointer list-none flex-wrap items-center gap-2 px-3 py-2 text-sm">
        <span className="text-slate-500 transition group-open:rotate-90">▸</span>
        <span className="font-medium">{props.title}</span>
        <span className="text-xs text-slate-500">{lines} lines</span>
        <span className="ml-auto flex gap-1">
          <CopyButton text={props.text} fallbackId={props.id} />
          <a className="rounded-md px-2 py-1 text-xs text-slate-300 hover:bg-slate-800" href={props.href} download={props.filename}>
            Download
          </a>
        </span>
      </summary>
      <pre id={props.id} className="max-h-[28rem] overflow-auto border-t border-slate-800 px-3 py-2 font-mono text-xs leading-5 text-slate-300">
        {props.text}
      </pre>
    </details>
  );
}
