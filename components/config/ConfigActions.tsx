"use client";

import { useRouter } from "next/navigation";
import { useState } from "react";
import { api, errorText } from "../api/client";
import type { Build, CreatedSession } from "../../contracts/api";
import { apiPath, pagePath } from "../../contracts/urls";
import { ErrorNote } from "../ui/ErrorNote";
import { button } from "../ui/styles";

/** "Open in menuconfig" (a new session seeded with this config) and "Build". */
export function ConfigActions(props: { configId: string; project: string; rev: string; describe?: string }) {
  const router = useRouter();
  const [busy, setBusy] = useState<"open" | "build">();
  const [error, setError] = useState<string>();
  const act = async (what: "open" | "build") => {
    setBusy(what);
    setError(undefined);
    try {
      const body = { project: props.project, rev: props.rev, configId: props.configId };
      if (what === "open") {
        const s = await api<CreatedSession>(apiPath.sessions(), { body });
        router.push(pagePath.session(s.id, { project: props.project, rev: props.describe ?? props.rev }));
      } else {
        const b = await api<Build>(apiPath.builds(), { body });
        router.push(pagePath.build(b.id));
      }
    } catch (e) {
      setError(errorText(e));
      setBusy(undefined);
    }
  };
  return (
    <div className="flex flex-col items-end gap-2">
      <div className="flex flex-wrap gap-2">
        <button type="button" className={button.primary} disabled={!!busy} onClick={() => void act("open")}>
          {busy === "open" ? "Opening…" : "Open in menuconfig"}
        </button>
        <button type="button" className={button.secondary} disabled={!!busy} onClick={() => void act("build")}>
          {busy === "build" ? "Queueing…" : "Build"}
        </button>
      </div>
      {error && <ErrorNote>{error}</ErrorNote>}
    </div>
  );
}
