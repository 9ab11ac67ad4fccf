/**
 * A config with make or shell expansions in its string values: building it runs
 * them (kbs builds it sandboxed; reproduce.sh on your machine does not).
 */
export function RunsCodeWarning(props: { symbols: string[] | undefined; configHref?: string }) {
  const symbols = props.symbols ?? [];
  if (!symbols.length) return null;
  return (
    <div role="alert" data-runs-code className="rounded-md border border-amber-800/80 bg-amber-950/40 px-3 py-2 text-sm text-amber-100">
      <p className="font-medium">
        This config runs commands when built; read it first
        {props.configHref && (
          <>
            {" "}
            (<a className="underline" href={props.configHref}>open the config</a>)
          </>
        )}
        .
      </p>
      <p className="mt-1 break-words">
        {symbols.length === 1 ? "The value of " : "The values of "}
        {symbols.map((s, i) => (
          <span key={s}>
            {i > 0 && ", "}
            <code className="font-mono text-amber-300">CONFIG_{s}</code>
          </span>
        ))}{" "}
        {symbols.length === 1 ? "holds" : "hold"} a make or shell expansion (<code>$(…)</code>, <code>${"{…}"}</code> or backticks). kbs builds it in a sandbox; <code>reproduce.sh</code> runs it on your own machine.
      </p>
    </div>
  );
}
