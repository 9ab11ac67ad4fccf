"use client";

import { useState } from "react";
import { button } from "./styles";

/** Copies `text`; says so for a moment. Without clipboard access it selects `fallbackId`'s text instead. */
export function CopyButton(props: { text: string; label?: string; fallbackId?: string }) {
  const [done, setDone] = useState<string>();
  return (
    <button
      type="button"
      className={button.ghost + " text-xs"}
      onClick={async () => {
        try {
          await navigator.clipboard.writeText(props.text);
          setDone("Copied");
        } catch {
          const el = props.fallbackId ? document.getElementById(props.fallbackId) : null;
          if (el) window.getSelection()?.selectAllChildren(el);
          setDone("Selected — press Ctrl+C");
        }
        setTimeout(() => setDone(undefined), 1500);
      }}
    >
      {done ?? props.label ?? "Copy"}
    </button>
  );
}
