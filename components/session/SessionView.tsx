"use client";

import Link from "next/link";
import { useRouter } from "next/navigation";
import { useCallback, useEffect, useRef, useState } from "react";
import { api, errorText } from "../api/client";
import type { Build, EndedSession, SessionDetails, StoredConfig } from "../../contracts/api";
import type { ConfigSymbols } from "../../contracts/symbols";
import { apiPath, pagePath, socketPath } from "../../contracts/urls";
import { ChangedSymbolsList } from "../config/ChangedSymbolsList";
import { ChosenSymbols } from "../symbols/ChosenSymbols";
import { SymbolSearch } from "../symbols/SymbolSearch";
import { Terminal, type TerminalHandle } from "../terminal/Terminal";
import type { ConnectionState } from "../../contracts/terminal-client";
import type { ServerMessage } from "../../contracts/terminal-protocol";
import { ErrorNote } from "../ui/ErrorNote";
import { PresetPanel } from "./PresetPanel";
import { formatBytes } from "../ui/format";
import { button, input } from "../ui/styles";

type AfterSave = "download-config" | "download-defconfig" | "share" | "build" | undefined;

const stateLook: Record<ConnectionState, { label: string; dot: string }> = {
  connecting: { label: "connecting", dot: "bg-slate-400 animate-pulse" },
  connected: { label: "connected", dot: "bg-emerald-400" },
  reconnecting: { label: "reconnecting", dot: "bg-amber-400 animate-pulse" },
  ended: { label: "ended", dot: "bg-red-500" },
};

function download(href: string, filename: string) {
  const a = document.createElement("a");
  a.href = href;
  a.download = filename;
  document.body.appendChild(a);
  a.click();
  a.remove();
}

/**
 * The session page: menuconfig in the main area, a toolbar whose actions save first
 * (so they always act on what the terminal shows), and the changed-symbols panel
 * refreshed on every `saved`.
 */
export function SessionView(props: { id: string; project?: string; rev?: string; from?: string; arch?: string }) {
  const router = useRouter();
  const handle = useRef<TerminalHandle | undefined>(undefined);
  const [conn, setConn] = useState<{ state: ConnectionState; detail?: string }>({ state: "connecting" });
  const [config, setConfig] = useState<StoredConfig>();
  const [configId, setConfigId] = useState<string>();
  // What the user chose in the latest save (the minimal form first), and the session's commit for the symbol search.
  const [chosen, setChosen] = useState<ConfigSymbols>();
  const [pin, setPin] = useState<{ project: string; commit: string; configId: string | null }>();
  const [filter, setFilter] = useState("");
  const [pending, setPending] = useState<{ action: AfterSave } | undefined>();
  const [error, setError] = useState<string>();
  const [notice, setNotice] = useState<string>();
  const [flow, setFlow] = useState("");
  const afterSave = useRef<AfterSave>(undefined);
  const toolbarRef = useRef<HTMLDivElement>(null);

  useEffect(() => {
    api<SessionDetails>(apiPath.session(props.id))
      .then(setPin)
      .catch(() => undefined);
  }, [props.id]);

  // Flow indicator: bytes drawn and acknowledged, refreshed while connected.
  useEffect(() => {
    const t = setInterval(() => {
      const f = handle.current?.flow();
      if (f) setFlow(`${formatBytes(f.received)} in · ${formatBytes(f.received - f.acked)} unacked`);
    }, 1000);
    return () => clearInterval(t);
  }, []);

  const runAfterSave = useCallback(
    async (action: AfterSave, cfg: StoredConfig) => {
      const raw = apiPath.config(cfg.id);
      if (action === "download-config") download(`${raw}/raw`, ".config");
      else if (action === "download-defconfig") download(`${raw}/defconfig`, "defconfig");
      else if (action === "share") {
        const url = `${window.location.origin}/c/${cfg.id}`;
        try {
          await navigator.clipboard.writeText(url);
          setNotice("Share link copied.");
        } catch {
          setNotice("Copy the share link from the panel.");
        }
      } else if (action === "build") {
        const build = await api<Build>(apiPath.builds(), { body: { project: cfg.project, rev: cfg.commit ?? cfg.rev, configId: cfg.id } });
        router.push(pagePath.build(build.id));
      }
    },
    [router],
  );

  const onSaved = useCallback(
    async (id: string) => {
      setConfigId(id);
      // A config saved in a session started from a board preset keeps that board's origin (flash guidance).
      if (props.from && id !== props.from) void api(apiPath.configPreset(id), { body: { from: props.from } }).catch(() => undefined);
      const action = afterSave.current;
      afterSave.current = undefined;
      try {
        const cfg = await api<StoredConfig>(apiPath.config(id));
        setConfig(cfg);
        // without it (a tree Kconfiglib cannot parse) the panel keeps the plain changed list
        void api<ConfigSymbols>(apiPath.configSymbols(id, { arch: props.arch }))
          .then(setChosen)
          .catch(() => setChosen(undefined));
        await runAfterSave(action, cfg);
      } catch (e) {
        setError(errorText(e));
      } finally {
        setPending(undefined);
      }
    },
    [runAfterSave, props.from, props.arch],
  );

  const onMessage = useCallback(
    (msg: ServerMessage) => {
      if (msg.type === "saved") void onSaved(msg.configId);
      else if (msg.type === "error") {
        setError(msg.message);
        setPending(undefined);
      }
    },
    [onSaved],
  );

  // Leaving the page (a closed tab, another site) ends the session instead of leaving it
  // to wait out the grace period; the server waits a few seconds in case it is a reload.
  // sendBeacon can only POST, and the API wants JSON.
  useEffect(() => {
    const left = () => navigator.sendBeacon(apiPath.sessionLeave(props.id), new Blob(["{}"], { type: "application/json" }));
    window.addEventListener("pagehide", left);
    return () => window.removeEventListener("pagehide", left);
  }, [props.id]);

  const [closing, setClosing] = useState(false);
  const closeSession = async () => {
    setError(undefined);
    setNotice(undefined);
    setClosing(true);
    try {
      const rec = await api<EndedSession>(apiPath.session(props.id), { method: "DELETE", body: {} });
      if (rec.configId) setConfigId(rec.configId);
      // The socket's session_closed message says the same; this covers a socket already gone.
      setConn({ state: "ended", detail: `This session was closed.${rec.configId ? " Its last saved config is kept." : ""} Start a new session to go on.` });
    } catch (e) {
      setError(errorText(e));
    } finally {
      setClosing(false);
    }
  };

  const save = (action: AfterSave) => {
    setError(undefined);
    setNotice(undefined);
    if (!handle.current?.save()) {
      setError("Not connected to the session: wait for it to reconnect, then try again.");
      return;
    }
    afterSave.current = action;
    setPending({ action });
  };

  const busy = pending !== undefined;
  const ended = conn.state === "ended";
  const look = stateLook[conn.state];
  const shareHref = configId ? pagePath.config(configId) : undefined;

  return (
    <div className="flex flex-col lg:h-[calc(100dvh-3rem)]">
      <div
        ref={toolbarRef}
        role="toolbar"
        aria-label="Session actions"
        aria-keyshortcuts="F6"
        title="F6 moves between menuconfig and these actions"
        className="flex flex-wrap items-center gap-2 border-b border-slate-800 px-3 py-2"
        onKeyDown={(e) => {
          if (e.key !== "F6") return;
          e.preventDefault();
          handle.current?.focus();
        }}
      >
        <div className="mr-auto flex min-w-0 items-center gap-2 text-sm">
          <span className="truncate font-medium">{props.project ?? "session"}</span>
          {props.rev && <span className="truncate font-mono text-slate-400">@ {props.rev}</span>}
          <span className="flex items-center gap-1.5 rounded-full border border-slate-700 px-2 py-0.5 text-xs" role="status" aria-live="polite" data-connection={conn.state}>
            <span className={`h-2 w-2 rounded-full ${look.dot}`} aria-hidden />
            {look.label}
          </span>
          <span className="hidden font-mono text-[11px] text-slate-500 xl:inline" title="terminal output received, and not yet acknowledged (flow control)">
            {flow}
          </span>
        </div>
        <button type="button" className={button.primary} disabled={busy || ended} onClick={() => save(undefined)} title="Save the config as menuconfig shows it (mconf-based trees: what mconf last wrote)">
          {pending?.action === undefined && busy ? "Saving…" : "Save"}
        </button>
        <button type="button" className={button.secondary} disabled={busy || ended} onClick={() => save("download-config")}>
          Download .config
        </button>
        <button type="button" className={button.secondary} disabled={busy || ended} onClick={() => save("download-defconfig")}>
          Download defconfig
        </button>
        <button type="button" className={button.secondary} disabled={busy || ended} onClick={() => save("share")}>
          Copy share link
        </button>
        <button type="button" className={button.secondary} disabled={busy || ended} onClick={() => save("build")}>
          {pending?.action === "build" ? "Starting build…" : "Build"}
        </button>
        <button type="button" className={button.ghost} disabled={busy || ended || closing} onClick={() => void closeSession()} title="End this session now (its latest config is saved first) and free its place">
          {closing ? "Closing…" : "Close"}
        </button>
      </div>

      {(error || notice || (ended && conn.detail)) && (
        <div className="space-y-2 px-3 pt-2">
          {ended && (
            <ErrorNote
              title="This session has ended"
              action={
                <div className="flex flex-wrap gap-2">
                  {shareHref && (
                    <Link className={button.secondary} href={shareHref}>
                      Open the last saved config
                    </Link>
                  )}
                  <Link className={button.secondary} href={props.project ? `/?project=${encodeURIComponent(props.project)}&rev=${encodeURIComponent(props.rev ?? "")}` : "/"}>
                    Start a new session
                  </Link>
                </div>
              }
            >
              {conn.detail ?? "The connection closed. Sessions end when menuconfig exits or after a while without input; saved configs are kept."}
            </ErrorNote>
          )}
          {error && <ErrorNote>{error}</ErrorNote>}
          {notice && (
            <p role="status" className="text-sm text-emerald-300">
              {notice}
            </p>
          )}
        </div>
      )}

      <div className="flex min-h-0 flex-1 flex-col lg:flex-row">
        <div className="relative h-[30rem] min-w-0 lg:h-auto lg:flex-1">
          {(conn.state === "connecting" || conn.state === "reconnecting") && (
            <div className="pointer-events-none absolute inset-x-0 top-2 z-10 flex justify-center" aria-hidden>
              <span className="rounded-full border border-slate-700 bg-slate-900/90 px-3 py-1 text-xs text-slate-300 shadow">
                {conn.state === "connecting" ? "Starting menuconfig in its sandbox…" : "Connection lost — reconnecting; the screen comes back as it was…"}
              </span>
            </div>
          )}
          <Terminal
            wsPath={socketPath.session(props.id)}
            onState={(state, detail) => setConn({ state, detail })}
            onMessage={onMessage}
            onHandle={(h) => (handle.current = h)}
            onLeave={() => toolbarRef.current?.querySelector<HTMLButtonElement>("button:not(:disabled)")?.focus()}
          />
        </div>
        <aside aria-label="Changed symbols panel" className="flex min-h-64 flex-col gap-2 border-t border-slate-800 p-3 lg:w-80 lg:border-t-0 lg:border-l">
          <div className="flex items-baseline justify-between gap-2">
            <h2 className="text-sm font-semibold">Changed from defaults</h2>
            {config && <span className="text-xs text-slate-400">{config.changed.length} symbols</span>}
          </div>
          {props.from && <PresetPanel configId={props.from} />}
          {shareHref && (
            <div className="rounded-md border border-slate-800 bg-slate-950/60 p-2 text-xs">
              <div className="text-slate-400">Last save</div>
              <a href={shareHref} target="_blank" rel="noopener" className="break-all font-mono text-emerald-300 underline-offset-2 hover:underline">
                Share link: /c/{configId!.slice(0, 16)}…
              </a>
            </div>
          )}
          {chosen && chosen.id === configId ? (
            <div className="flex min-h-0 flex-1 flex-col gap-2">
              <input type="search" aria-label="Filter changed symbols" placeholder="Filter symbols…" className={input + " font-mono"} value={filter} onChange={(e) => setFilter(e.target.value)} />
              <div className="min-h-0 flex-1 overflow-y-auto">
                <ChosenSymbols changed={chosen.changed} filter={filter} href={(name) => pagePath.symbol(chosen.project, chosen.commit, name, { config: chosen.id })} />
              </div>
            </div>
          ) : (
            <ChangedSymbolsList changed={config?.changed} emptyText="Everything is at its default." filter={filter} onFilter={setFilter} />
          )}
          <h2 className="text-sm font-semibold">Symbols</h2>
          <SymbolSearch project={pin?.project ?? props.project} rev={pin?.commit ?? props.rev} configId={configId ?? pin?.configId ?? undefined} arch={props.arch} />
          <p className="text-xs text-slate-500">
            kbs keeps every config menuconfig writes: Save here, or <kbd className="rounded border border-slate-700 px-1 font-mono">S</kbd> in menuconfig (or Q, then Y), and this list,
            the downloads, the share link and Build follow at once. <kbd className="rounded border border-slate-700 px-1 font-mono">F6</kbd> moves between menuconfig and the toolbar.
          </p>
        </aside>
      </div>
    </div>
  );
}
