"use client";

import "@xterm/xterm/css/xterm.css";
import { useEffect, useRef } from "react";
import type { Terminal as XTerm } from "@xterm/xterm";
import { ProtocolClient, type ConnectionState } from "../../contracts/terminal-client";
import type { ServerMessage } from "../../contracts/terminal-protocol";
import { socketUrl } from "../../contracts/urls";
import { browserSocket } from "./browser-socket";

/** What the session page can do with a mounted terminal. */
export interface TerminalHandle {
  save(): boolean;
  focus(): void;
  flow(): ProtocolClient["flow"];
}

/** Read by the e2e tests: the screen as text, and a way to cut the socket. */
export interface KbsTerminalTestHook {
  text(): string;
  dropSocket(): void;
  connection(): ConnectionState;
  /** Sessions the server accepted on this page: 1, plus one per reconnect. */
  connects(): number;
}

declare global {
  interface Window {
    __kbsTerminal?: KbsTerminalTestHook;
  }
}

// menuconfig (mconf) refuses to draw below 80x19; smaller viewports scroll instead.
const minCols = 80;
const minRows = 20;

const theme = {
  background: "#0b1120",
  foreground: "#e2e8f0",
  cursor: "#34d399",
  selectionBackground: "#334155",
  black: "#0f172a",
  blue: "#3b82f6",
  brightBlack: "#475569",
  brightWhite: "#f8fafc",
  cyan: "#22d3ee",
  green: "#34d399",
  magenta: "#c084fc",
  red: "#f87171",
  white: "#cbd5e1",
  yellow: "#facc15",
};

export function Terminal(props: {
  wsPath: string;
  onState(state: ConnectionState, detail?: string): void;
  onMessage(msg: ServerMessage): void;
  onHandle(handle: TerminalHandle | undefined): void;
  /** F6 pressed in the terminal: the page moves focus elsewhere. */
  onLeave?(): void;
}) {
  const outerRef = useRef<HTMLDivElement>(null);
  const hostRef = useRef<HTMLDivElement>(null);
  // Callbacks change on every render of the page; the connection must not.
  const callbacks = useRef(props);
  useEffect(() => {
    callbacks.current = props;
  });
  const { wsPath } = props;

  useEffect(() => {
    let disposed = false;
    let cleanup = () => {};
    void (async () => {
      const [{ Terminal: XTermCtor }, { FitAddon }] = await Promise.all([import("@xterm/xterm"), import("@xterm/addon-fit")]);
      if (disposed || !hostRef.current || !outerRef.current) return;
      const term: XTerm = new XTermCtor({
        cols: minCols,
        rows: minRows,
        fontFamily: '"DejaVu Sans Mono", ui-monospace, "Cascadia Mono", Menlo, Consolas, monospace',
        fontSize: 14,
        lineHeight: 1,
        cursorBlink: true,
        scrollback: 0,
        allowProposedApi: false,
        theme,
      });
      const fit = new FitAddon();
      term.loadAddon(fit);
      term.open(hostRef.current);

      const client = new ProtocolClient({
        openSocket: browserSocket(socketUrl(wsPath, window.location)),
        size: () => ({ cols: term.cols, rows: term.rows }),
        write: (bytes, drawn) => term.write(bytes, drawn),
        reset: () => term.reset(),
        onState: (s, d) => callbacks.current.onState(s, d),
        onMessage: (m) => callbacks.current.onMessage(m),
      });

      const resize = () => {
        const proposed = fit.proposeDimensions();
        if (!proposed || !Number.isFinite(proposed.cols)) return;
        const cols = Math.max(minCols, proposed.cols);
        const rows = Math.max(minRows, proposed.rows);
        if (cols === term.cols && rows === term.rows) return;
        term.resize(cols, rows);
        client.resize({ cols, rows });
      };
      resize();
      const observer = new ResizeObserver(() => resize());
      observer.observe(outerRef.current);

      const onData = term.onData((d) => client.input(d));
      const onBinary = term.onBinary((d) => client.input(d, true));
      // The terminal takes Tab and Esc for menuconfig; F6 (which menuconfig does not use) leaves it.
      term.attachCustomKeyEventHandler((e) => {
        if (e.key !== "F6") return true;
        if (e.type === "keydown") callbacks.current.onLeave?.();
        return false;
      });
      client.connect();
      term.focus();

      window.__kbsTerminal = {
        text: () => {
          const buf = term.buffer.active;
          const lines: string[] = [];
          for (let i = 0; i < buf.length; i++) lines.push(buf.getLine(i)?.translateToString(true) ?? "");
          return lines.join("\n");
        },
        dropSocket: () => client.dropSocket(),
        connection: () => client.connection,
        connects: () => client.connects,
      };
      callbacks.current.onHandle({ save: () => client.save(), focus: () => term.focus(), flow: () => client.flow });

      cleanup = () => {
        observer.disconnect();
        onData.dispose();
        onBinary.dispose();
        client.close();
        term.dispose();
        delete window.__kbsTerminal;
        callbacks.current.onHandle(undefined);
      };
    })();
    return () => {
      disposed = true;
      cleanup();
    };
  }, [wsPath]);

  return (
    // The frame has its final size before xterm loads, so nothing moves when it mounts.
    <div ref={outerRef} className="kbs-terminal relative h-full min-h-0 w-full overflow-auto bg-[#0b1120] p-2">
      <div ref={hostRef} className="h-full w-full" aria-label="menuconfig terminal" role="application" />
    </div>
  );
}
