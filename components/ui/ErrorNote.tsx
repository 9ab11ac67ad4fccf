/** An error the user can act on: what happened, then what to do. */
export function ErrorNote(props: { title?: string; children: React.ReactNode; action?: React.ReactNode }) {
  return (
    <div role="alert" className="rounded-md border border-red-900/70 bg-red-950/40 px-3 py-2 text-sm text-red-200">
      {props.title && <p className="font-medium text-red-100">{props.title}</p>}
      <div className="break-words">{props.children}</div>
      {props.action && <div className="mt-2">{props.action}</div>}
    </div>
  );
}
