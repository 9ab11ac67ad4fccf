"use client";

import { useEffect, useLayoutEffect, useRef, useState } from "react";
import { apiPath } from "../../contracts/urls";
import { button } from "../ui/styles";

// The page shows the tail of very long logs; the whole log stays a download away.
const maxShownChars = 400_000;

/**
 * Streams `GET /api/builds/:id/log` (chunked; it follows the build while it runs) and
 * shows it with auto-scroll that stops when the user scrolls up and resumes at the bottom.
 * When the stream ends before the build does (server restart, proxy timeout), it reopens.
 */
export function useBuildLog(id: string, finished: boolean): { text: string; error?: string } {
  const [text, setText] = useState("");
  const [error, setError] = useState<string>();
  const finishedRef = useRef(finished);
  useEffect(() => {
    finishedRef.current = finished;
  }, [finished]);

  useEffect(() => {
    const ctl = new AbortController();
    let stopped = false;
    const decoder = new TextDecoder();
    const follow = async () => {
      for (let attempt = 0; !stopped; attempt++) {
        let buf = "";
        try {
          const res = await fetch(apiPath.buildLog(id), { signal: ctl.signal, cache: "no-store" });
          if (!res.ok || !res.body) throw new Error(`The log answered ${res.status}.`);
          setError(undefined);
          const reader = res.body.getReader();
          for (;;) {
            const { done, value } = await reader.read();
            if (done) break;
            buf += decoder.decode(value, { stream: true });
            setText(buf);
          }
          if (finishedRef.current) return;
        } catch (e) {
          if (ctl.signal.aborted) return;
          setError(`The log stream broke (${(e as Error).message}); reconnecting…`);
        }
        await new Promise((r) => setTimeout(r, Math.min(5000, 500 * 2 ** Math.min(attempt, 4))));
      }
    };
    void follow();
    return () => {
      stopped = true;
      ctl.abort();
    };
  }, [id]);
  return { text, error };
}

// Terminal control sequences (a VM's serial console clears the screen, sets colors): the page
// shows the text; the raw log keeps every byte.
const controlSequences = /\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[ -/]*[0-~])|[\x00-\x08\x0b-\x1f\x7f]/g;

export function BuildLog(props: { text: string; error?: string; href: string; highlight?: string }) {
  const boxRef = useRef<HTMLPreElement>(null);
  const [follow, setFollow] = useState(true);
  const tail = props.text.length > maxShownChars ? props.text.slice(-maxShownChars) : props.text;
  const shown = tail.replace(controlSequences, "");

  useLayoutEffect(() => {
    const box = boxRef.current;
    if (box && follow) box.scrollTop = box.scrollHeight;
  }, [shown, follow]);

  return (
    <section aria-labelledby="log-heading" className="flex min-h-0 flex-col rounded-lg border border-slate-800 bg-slate-900/60">
      <div className="flex flex-wrap items-center gap-2 border-b border-slate-800 px-3 py-1.5">
        <h2 id="log-heading" className="text-sm font-semibold">
          Log
        </h2>
        {props.error && <span className="text-xs text-amber-300">{props.error}</span>}
        <span className="ml-auto flex gap-1">
          {!follow && (
            <button type="button" className={button.ghost + " text-xs"} onClick={() => setFollow(true)}>
              ↓ Follow
            </button>
          )}
          <a className={button.ghost + " text-xs"} href={props.href} target="_blank" rel="noopener">
            Raw log
          </a>
        </span>
      </div>
      <pre
        ref={boxRef}
        tabIndex={0}
        aria-label="Build log"
        onScroll={(e) => {
          const el = e.currentTarget;
          const atBottom = el.scrollTop + el.clientHeight >= el.scrollHeight - 24;
          if (atBottom !== follow) setFollow(atBottom);
        }}
        className="h-[28rem] overflow-auto px-3 py-2 font-mono text-xs leading-5 whitespace-pre-wrap break-all text-slate-300 lg:h-[32rem]"
      >
        {props.text.length > maxShownChars && <span className="text-slate-500">… earlier output omitted; the raw log has all of it …{"\n"}</span>}
        {shown ? <LogLines text={shown} highlight={props.highlight} /> : <span className="text-slate-500">Waiting for output…</span>}
      </pre>
    </section>
  );
}

/** The failing line (the server's error summary) is marked so the eye finds it. */
function LogLines({ text, highlight }: { text: string; highlight?: string }) {
  if (!highlight) return <>{text}</>;
  const at = text.lastIndexOf(highlight);
  if (at < 0) return <>{text}</>;
  return (
    <>
      {text.slice(0, at)}
      <mark id="log-error" className="bg-red-900/70 text-red-100">
        {highlight}
      </mark>
      {text.slice(at + highlight.length)}
    </>
  );
}
