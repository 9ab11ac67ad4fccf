import type { OpenSocket } from "../../contracts/terminal-client";

/** The browser's WebSocket to `url` as the terminal client's socket (binary frames as bytes). */
export const browserSocket =
  (url: string): OpenSocket =>
  (on) => {
    const ws = new WebSocket(url);
    ws.binaryType = "arraybuffer";
    ws.onopen = () => on.open();
    ws.onmessage = (ev: MessageEvent<ArrayBuffer | string>) => on.message(typeof ev.data === "string" ? ev.data : new Uint8Array(ev.data));
    ws.onclose = (ev) => on.close(ev.code, ev.reason);
    return { send: (data) => ws.send(data), close: (code, reason) => ws.close(code, reason) };
  };
