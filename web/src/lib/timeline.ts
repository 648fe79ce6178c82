/**
 * The checkpoint timeline's arithmetic, kept pure: the journal window, the
 * visible range and its zoom, time ↔ pixel, and what a picked point
 * resolves to (the newest consistent checkpoint at or before it).
 */
import type { Checkpoint } from "../api/types";

export interface Range {
  fromMs: number;
  toMs: number;
}

export const MIN_SPAN_MS = 2000;

export function xOf(r: Range, t: number, widthPx: number): number {
  return ((t - r.fromMs) / (r.toMs - r.fromMs)) * widthPx;
}

export function tOf(r: Range, x: number, widthPx: number): number {
  return r.fromMs + (x / widthPx) * (r.toMs - r.fromMs);
}

/** Zooms by `factor` (< 1: in) around time `at`, kept inside `bounds`. */
export function zoom(r: Range, factor: number, at: number, bounds: Range): Range {
  const span = Math.min(bounds.toMs - bounds.fromMs, Math.max(MIN_SPAN_MS, (r.toMs - r.fromMs) * factor));
  const rel = (at - r.fromMs) / (r.toMs - r.fromMs);
  return clampRange({ fromMs: at - rel * span, toMs: at - rel * span + span }, bounds);
}

export function pan(r: Range, deltaMs: number, bounds: Range): Range {
  return clampRange({ fromMs: r.fromMs + deltaMs, toMs: r.toMs + deltaMs }, bounds);
}

export function clampRange(r: Range, bounds: Range): Range {
  const span = Math.min(r.toMs - r.fromMs, bounds.toMs - bounds.fromMs);
  let from = Math.max(bounds.fromMs, r.fromMs);
  if (from + span > bounds.toMs) from = bounds.toMs - span;
  return { fromMs: from, toMs: from + span };
}

/** Index of the newest checkpoint at or before `t` (checkpoints sorted by time), or -1. */
export function indexAtOrBefore(cps: readonly Checkpoint[], t: number): number {
  let lo = 0;
  let hi = cps.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (cps[mid]!.time <= t) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}

export function consistentAtOrBefore(cps: readonly Checkpoint[], t: number): Checkpoint | undefined {
  for (let i = indexAtOrBefore(cps, t); i >= 0; i--) if (cps[i]!.consistent) return cps[i];
  return undefined;
}

/** At most `max` checkpoints evenly chosen from those in view, plus every tagged or inconsistent one. */
export function visibleMarks(cps: readonly Checkpoint[], r: Range, max: number): Checkpoint[] {
  const first = Math.max(0, indexAtOrBefore(cps, r.fromMs));
  const last = indexAtOrBefore(cps, r.toMs);
  if (last < first) return [];
  const n = last - first + 1;
  const step = Math.max(1, Math.ceil(n / max));
  const out: Checkpoint[] = [];
  for (let i = first; i <= last; i++) {
    const c = cps[i]!;
    if (c.time < r.fromMs) continue;
    if ((i - first) % step === 0 || c.tag || !c.consistent) out.push(c);
  }
  return out;
}

/** Ticks on a time axis: round steps (1 s … 1 h) so about `count` fit. */
export function ticks(r: Range, count: number): number[] {
  const steps = [100, 250, 500, 1000, 2000, 5000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000, 900_000, 1_800_000, 3_600_000, 7_200_000, 21_600_000, 43_200_000, 86_400_000];
  const want = (r.toMs - r.fromMs) / Math.max(1, count);
  const step = steps.find((s) => s >= want) ?? steps[steps.length - 1]!;
  const out: number[] = [];
  for (let t = Math.ceil(r.fromMs / step) * step; t <= r.toMs; t += step) out.push(t);
  return out;
}

/** A point as the operator picked it, and the text the API takes for it (orchestration/point.ts). */
export type Pick =
  | { kind: "latest" }
  | { kind: "checkpoint"; checkpoint: Checkpoint }
  | { kind: "time"; atMs: number; how: "timeline" | "ago" | "exact" };

export function pointText(p: Pick): string {
  switch (p.kind) {
    case "latest":
      return "latest";
    case "checkpoint":
      return p.checkpoint.tag ? `tag:${p.checkpoint.tag}` : p.checkpoint.id;
    case "time":
      return new Date(p.atMs).toISOString();
  }
}

export function pickTime(p: Pick, nowMs: number): number {
  return p.kind === "latest" ? nowMs : p.kind === "checkpoint" ? p.checkpoint.time : p.atMs;
}

/** Reads what an operator typed: "latest", "5.7s ago", "tag:NAME", a checkpoint id, an ISO or clock time. */
export function parsePick(text: string, cps: readonly Checkpoint[], nowMs: number): Pick | string {
  const t = text.trim();
  if (t === "" || t === "latest") return { kind: "latest" };
  const ago = /^(\d+(?:\.\d+)?)\s*(ms|s|m|min|h|d)\s*(ago)?$/i.exec(t);
  if (ago) {
    const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, min: 60_000, h: 3_600_000, d: 86_400_000 };
    return { kind: "time", atMs: Math.round(nowMs - Number(ago[1]) * unit[ago[2]!.toLowerCase()]!), how: "ago" };
  }
  const tag = t.startsWith("tag:") ? t.slice(4) : null;
  const byTag = tag !== null ? [...cps].reverse().find((c) => c.tag === tag) : undefined;
  if (tag !== null) return byTag ? { kind: "checkpoint", checkpoint: byTag } : `no checkpoint tagged "${tag}" in the journal window`;
  const byId = cps.find((c) => c.id === t) ?? [...cps].reverse().find((c) => c.tag === t);
  if (byId) return { kind: "checkpoint", checkpoint: byId };
  const clock = /^(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?$/.exec(t);
  if (clock) {
    const d = new Date(nowMs);
    d.setHours(Number(clock[1]), Number(clock[2]), Number(clock[3] ?? 0), Number((clock[4] ?? "0").padEnd(3, "0")));
    if (d.getTime() > nowMs) d.setDate(d.getDate() - 1);
    return { kind: "time", atMs: d.getTime(), how: "exact" };
  }
  const iso = Date.parse(t);
  if (/^\d{4}-\d{2}-\d{2}/.test(t) && Number.isFinite(iso)) return { kind: "time", atMs: iso, how: "exact" };
  return `"${t}" is not a point: try "latest", "5.7s ago", "tag:before-upgrade", "14:02:10.250" or a checkpoint id`;
}
