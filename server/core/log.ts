import pino from "pino";
import { logLevel } from "./settings";

/** One logger for the process; parts take a child with their name. */
export const log = pino({
  level: logLevel(),
  base: undefined,
});

export type Logger = pino.Logger;
