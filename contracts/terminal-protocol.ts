import { z } from "zod";
import { errorCodes } from "./terminal-error-codes";

/**
 * The terminal WebSocket protocol (DESIGN.md "Terminal protocol"): binary frames are
 * raw terminal bytes both ways; text frames are these JSON control messages.
 */

/** Terminal sizes outside these bounds are clamped, not refused (a phone, a 4K monitor). */
export const MIN_COLS = 20;
export const MAX_COLS = 500;
export const MIN_ROWS = 5;
export const MAX_ROWS = 200;

const clamp = (lo: number, hi: number) => (n: number) => Math.min(hi, Math.max(lo, Math.round(n)));
const cols = z.number().finite().transform(clamp(MIN_COLS, MAX_COLS));
const rows = z.number().finite().transform(clamp(MIN_ROWS, MAX_ROWS));

export const ClientMessage = z.discriminatedUnion("type", [
  z.object({ type: z.literal("init"), cols, rows }),
  z.object({ type: z.literal("resize"), cols, rows }),
  z.object({ type: z.literal("ack"), bytes: z.number().int().nonnegative() }),
  z.object({ type: z.literal("save") }),
]);
export type ClientMessage = z.infer<typeof ClientMessage>;

const ErrorCode = z.enum(errorCodes);

export const ServerMessage = z.discriminatedUnion("type", [
  z.object({ type: z.literal("ready"), session: z.string(), kconfigHash: z.string() }),
  z.object({ type: z.literal("saved"), configId: z.string() }),
  /** null: menuconfig was killed by a signal. */
  z.object({ type: z.literal("exit"), code: z.number().int().nullable() }),
  z.object({ type: z.literal("error"), code: ErrorCode, message: z.string() }),
  z.object({ type: z.literal("snapshot") }),
]);
export type ServerMessage = z.infer<typeof ServerMessage>;

/** Parse one text frame; `undefined` with a reason when it is not a valid client message. */
export function parseClientMessage(text: string): { ok: true; msg: ClientMessage } | { ok: false; reason: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, reason: "a text frame must be a JSON control message" };
  }
  const parsed = ClientMessage.safeParse(value);
  if (!parsed.success) {
    const first = parsed.error.issues[0]!;
    return { ok: false, reason: `bad control message: ${first.path.join(".") || "message"}: ${first.message}` };
  }
  return { ok: true, msg: parsed.data };
}
