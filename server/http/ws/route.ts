import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";

/** A WebSocket upgrade handler for paths under `prefix` (server/main.ts hands each upgrade to the first that matches). */
export interface UpgradeRoute {
  prefix: string;
  handle(req: IncomingMessage, socket: Duplex, head: Buffer): void;
}
