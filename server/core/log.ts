import pino from "pino";

/** One logger for the process; parts take a child with their name. */
export const log = pino({
  level: process.env.KBS_LOG_LEVEL || "info",
  base: undefined,
});

export type Logger = pino.Logger;
