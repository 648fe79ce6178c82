import { pino } from "pino";

/** Structured logs to stderr, so that stdout stays for what the user asked for. */
export function makeLogger(level = process.env.LIFELINE_LOG ?? "info") {
  return pino({ level, base: undefined }, pino.destination({ dest: 2, sync: true }));
}
