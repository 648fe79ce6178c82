/**
 * The points an operator names: "latest", a checkpoint id, "seq:N", an ISO
 * time, "5.7s ago", "tag:NAME". Parsing is pure; resolving asks the group's
 * journal and refuses a point it does not hold, saying what it does hold.
 */
import { PointNotFoundError, type Journal } from "../journal/index.js";

export type PointRequest =
  | { kind: "latest" }
  | { kind: "seq"; seq: number }
  | { kind: "checkpoint"; id: string }
  | { kind: "time"; atMs: number }
  | { kind: "ago"; agoMs: number }
  | { kind: "tag"; tag: string };

export interface ResolvedPoint {
  seq: number;
  /** The source's time of the point (of its checkpoint, or of the write at `seq`). */
  timeMs: number | undefined;
  /** How the operator named it, for reports ("tag:before-upgrade (seq 1234)"). */
  label: string;
  checkpointId: string | undefined;
}

const AGO = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h|d)\s+ago\s*$/i;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, min: 60_000, h: 3_600_000, d: 86_400_000 };

export function parsePoint(text: string | undefined): PointRequest {
  const t = (text ?? "latest").trim();
  if (t === "" || t === "latest") return { kind: "latest" };
  if (/^seq:\d+$/.test(t)) return { kind: "seq", seq: Number(t.slice(4)) };
  if (t.startsWith("tag:") && t.length > 4) return { kind: "tag", tag: t.slice(4) };
  const ago = AGO.exec(t);
  if (ago) return { kind: "ago", agoMs: Number(ago[1]) * UNIT_MS[ago[2]!.toLowerCase()]! };
  if (/^\d{4}-\d{2}-\d{2}T/.test(t)) {
    const atMs = Date.parse(t);
    if (Number.isNaN(atMs)) throw new PointNotFoundError(`"${t}" is not a time`, { hint: "use an ISO time such as 2026-12-03T14:02:10Z" });
    return { kind: "time", atMs };
  }
  return { kind: "checkpoint", id: t };
}

/** A tag kept outside the journal (the recovery site's database: "tested at …"), and the point it names. */
export type TagLookup = (tag: string) => { seq: number; checkpointId: string | undefined } | undefined;

export function resolvePoint(journal: Journal, request: PointRequest, nowMs = Date.now(), addedTags?: TagLookup): ResolvedPoint {
  const checkpoints = journal.checkpoints;
  const held = `the journal holds seq ${journal.appliedThroughSeq} to ${journal.durableSeq}`;
  const fromCheckpoint = (c: { seq: number; timeMs: number; id: string } | undefined, label: string): ResolvedPoint => {
    if (!c) throw new PointNotFoundError(`no consistent checkpoint for ${label}`, { hint: held });
    return { seq: c.seq, timeMs: c.timeMs, label: `${label} (seq ${c.seq})`, checkpointId: c.id };
  };
  let point: ResolvedPoint;
  switch (request.kind) {
    case "latest": {
      const newest = [...checkpoints.list({ fromMs: nowMs - 3_600_000 })].reverse().find((c) => c.consistent && c.seq <= journal.durableSeq);
      point = fromCheckpoint(newest ?? checkpoints.atOrBefore(nowMs), "latest");
      break;
    }
    case "seq":
      point = { seq: request.seq, timeMs: journal.timeOf(request.seq), label: `seq ${request.seq}`, checkpointId: undefined };
      break;
    case "checkpoint":
      point = fromCheckpoint(checkpoints.byId(request.id), `checkpoint ${request.id}`);
      break;
    case "tag": {
      const label = `tag:${request.tag}`;
      const tagged = checkpoints.list({ tag: request.tag }).filter((c) => c.consistent).pop();
      const added = tagged ? undefined : addedTags?.(request.tag);
      if (added && added.checkpointId === undefined) {
        point = { seq: added.seq, timeMs: journal.timeOf(added.seq), label: `${label} (seq ${added.seq})`, checkpointId: undefined };
      } else {
        point = fromCheckpoint(tagged ?? (added?.checkpointId !== undefined ? checkpoints.byId(added.checkpointId) : undefined), label);
      }
      break;
    }
    case "time":
      point = fromCheckpoint(checkpoints.atOrBefore(request.atMs), new Date(request.atMs).toISOString());
      break;
    case "ago":
      point = fromCheckpoint(checkpoints.atOrBefore(nowMs - request.agoMs), `${request.agoMs / 1000}s ago`);
      break;
  }
  if (point.seq < journal.appliedThroughSeq || point.seq > journal.durableSeq) {
    throw new PointNotFoundError(`${point.label} is outside the journal`, { hint: held });
  }
  return point;
}
