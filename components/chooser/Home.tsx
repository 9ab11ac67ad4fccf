"use client";

import { useState } from "react";
import { button } from "../ui/styles";
import { Chooser } from "./Chooser";

/** The landing page: the chooser is open on arrival and the button brings it back. */
export function Home(props: { project?: string; rev?: string }) {
  const [open, setOpen] = useState(true);
  return (
    <main className="mx-auto max-w-3xl px-4 py-8 sm:px-6">
      <h1 className="text-2xl font-semibold">kbs</h1>
      <p className="mt-2 text-slate-300">Pick a project and a revision, configure it in its own menuconfig, share the config, build it.</p>
      <ol className="mt-4 grid gap-2 text-sm text-slate-400 sm:grid-cols-3">
        <li className="rounded-md border border-slate-800 p-3">
          <span className="font-mono text-emerald-400">1</span> project and revision — any tag, branch or commit
        </li>
        <li className="rounded-md border border-slate-800 p-3">
          <span className="font-mono text-emerald-400">2</span> the project&apos;s own menuconfig, in a sandbox
        </li>
        <li className="rounded-md border border-slate-800 p-3">
          <span className="font-mono text-emerald-400">3</span> a share link, a minimal defconfig, a build
        </li>
      </ol>
      <button type="button" className={button.primary + " mt-6 px-4 py-2"} onClick={() => setOpen(true)}>
        Choose a project
      </button>
      {open && <Chooser initialProject={props.project} initialRev={props.rev} onClose={() => setOpen(false)} />}
    </main>
  );
}
