/**
 * Naming a point in a group's history, the ways an operator does: a seq, a
 * checkpoint id, a time ("the newest consistent checkpoint at or before
 * 14:02:10"), or an age ("5.7 s ago").
 */
import { PointNotFoundError } from "./errors.js";
import type { Journal } from "./journal.js";

export type PointSpec = { seq: number } | { checkpoint: string } | { atMs: number } | { agoMs: number; nowMs?: number };

export function resolvePoint(journal: Journal, spec: PointSpec): number {
  if ("seq" in spec) return spec.seq;
  if ("checkpoint" in spec) {
    const c = journal.checkpoints.byId(spec.checkpoint);
    if (!c) throw new PointNotFoundError(`no checkpoint "${spec.checkpoint}" in the journal`, { hint: "list them with `lifeline journal inspect`" });
    return c.seq;
  }
  const atMs = "atMs" in spec ? spec.atMs : (spec.nowMs ?? Date.now()) - spec.agoMs;
  const c = journal.checkpoints.atOrBefore(atMs);
  if (!c) throw new PointNotFoundError(`no consistent checkpoint at or before ${new Date(atMs).toISOString()}`);
  return c.seq;
}

/** Parses the point part of an export name `<disk>@<seq or checkpoint id>`. */
export function parsePointName(text: string): PointSpec {
  return /^\d+$/.test(text) ? { seq: Number(text) } : { checkpoint: text };
}
