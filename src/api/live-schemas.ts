/** Schemas of the live routes (the stream and the metrics history), kept apart from schemas.ts so each can change alone. */
import { z } from "zod";
import { Instant } from "./schemas.js";

export const HistoryQuery = z.object({
  /** Only samples taken after this instant (epoch ms or ISO-8601); default: the whole hour kept. */
  since: Instant.optional(),
});

export const HistoryResponse = z.object({
  group: z.string(),
  /** Samples are taken this often. */
  intervalMs: z.number().int(),
  /** How far back the site keeps them (in memory: a restart starts again). */
  keepMs: z.number().int(),
  /** Column by column, oldest first; `rpoMs` is null while the group has no RPO to measure. */
  t: z.array(z.number()),
  rpoMs: z.array(z.number().nullable()),
  throughputBytesPerSec: z.array(z.number()),
  queueBytes: z.array(z.number()),
});
