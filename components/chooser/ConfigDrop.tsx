"use client";

import { useState } from "react";
import { button } from "../ui/styles";

/** An optional existing .config to start from: dropped as a file, picked, or pasted. */
export function ConfigDrop(props: { text: string; onText(text: string, name?: string): void; name?: string; error?: string }) {
  const [over, setOver] = useState(false);
  const [fileError, setFileError] = useState<string>();
  const error = fileError ?? props.error;
  const readFile = async (f: File | undefined) => {
    if (!f) return;
    if (f.size > 4 * 1024 * 1024) {
      setFileError(`${f.name} is ${f.size} bytes; a .config is at most a few hundred KB. Pick the right file.`);
      return;
    }
    setFileError(undefined);
    props.onText(await f.text(), f.name);
  };
  const lines = props.text ? props.text.split("\n").filter((l) => l.startsWith("CONFIG_")).length : 0;
  return (
    <div>
      <div
        onDragOver={(e) => {
          e.preventDefault();
          setOver(true);
        }}
        onDragLeave={() => setOver(false)}
        onDrop={(e) => {
          e.preventDefault();
          setOver(false);
          void readFile(e.dataTransfer.files[0]);
        }}
        className={`rounded-md border border-dashed px-3 py-2 ${over ? "border-emerald-500 bg-emerald-950/30" : error ? "border-red-700" : "border-slate-700"}`}
      >
        <div className="flex flex-wrap items-center gap-2 text-sm">
          <span className="text-slate-300">Start from an existing .config</span>
          <span className="text-xs text-slate-500">(optional: drop, pick or paste)</span>
          <label className={button.ghost + " ml-auto cursor-pointer text-xs"}>
            Pick file…
            <input type="file" className="sr-only" onChange={(e) => void readFile(e.target.files?.[0])} />
          </label>
          {props.text && (
            <button type="button" className={button.ghost + " text-xs"} onClick={() => props.onText("", undefined)}>
              Clear
            </button>
          )}
        </div>
        <textarea
          aria-label="Existing .config (optional)"
          aria-invalid={error ? true : undefined}
          aria-describedby={error ? "config-error" : undefined}
          value={props.text}
          onChange={(e) => props.onText(e.target.value)}
          placeholder="# paste a .config here"
          rows={props.text ? 4 : 1}
          spellCheck={false}
          className="mt-1 w-full resize-y rounded bg-slate-950/70 px-2 py-1 font-mono text-xs text-slate-300 placeholder:text-slate-600 focus:outline-none focus:ring-1 focus:ring-emerald-600"
        />
        {props.text && (
          <p className="text-[11px] text-slate-500">
            {props.name ? `${props.name}: ` : ""}
            {lines} CONFIG_ line{lines === 1 ? "" : "s"} — checked against the revision when you confirm.
          </p>
        )}
      </div>
      {error && (
        <p id="config-error" role="alert" className="mt-1 text-sm text-red-300">
          {error}
        </p>
      )}
    </div>
  );
}
