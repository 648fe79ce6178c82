/**
 * The protected group's replication state, as data (STYLE 5), with its one
 * transition function. The splitter, the sender, the status object and the
 * tests all read the same truth.
 *
 *   tracking   writes only mark the dirty bitmap: before the first contact
 *              with the recovery site, or after the outgoing stream overflowed.
 *   syncing    writes flow in the stream again, and the dirty blocks' current
 *              contents are sent among them; checkpoints are inconsistent.
 *   streaming  every write is in the stream; every point is consistent (once
 *              the recovery site holds the seq where the last sync ended).
 */
export type GroupState =
  | { kind: "tracking"; reason: string; sinceMs: number }
  | { kind: "syncing"; reason: string; sinceMs: number; totalBytes: number; startedMs: number }
  | { kind: "streaming"; sinceMs: number };

export type GroupInput =
  | { type: "overflow"; reason: string; nowMs: number }
  | { type: "resume"; dirtyBytes: number; reason: string; nowMs: number }
  | { type: "dirty"; dirtyBytes: number; reason: string; nowMs: number }
  | { type: "sync-sent"; nowMs: number };

export function nextState(s: GroupState, input: GroupInput): GroupState {
  switch (input.type) {
    case "overflow":
      return s.kind === "tracking" ? s : { kind: "tracking", reason: input.reason, sinceMs: input.nowMs };
    case "resume":
      if (s.kind !== "tracking") return s;
      if (input.dirtyBytes === 0) return { kind: "streaming", sinceMs: input.nowMs };
      return { kind: "syncing", reason: input.reason, sinceMs: s.sinceMs, totalBytes: input.dirtyBytes, startedMs: input.nowMs };
    case "dirty":
      if (s.kind === "streaming") return { kind: "syncing", reason: input.reason, sinceMs: input.nowMs, totalBytes: input.dirtyBytes, startedMs: input.nowMs };
      if (s.kind === "syncing") return { ...s, totalBytes: s.totalBytes + input.dirtyBytes };
      return s;
    case "sync-sent":
      return s.kind === "syncing" ? { kind: "streaming", sinceMs: input.nowMs } : s;
  }
}

/** Bytes, the way an operator reads them: "1.2 GiB". */
export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let u = 0;
  let v = n;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 7_200_000) return `${Math.round(ms / 60_000)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}
