/**
 * What the replication of a group tells the outside (the site daemon turns
 * these into API resources, alerts and metrics): events for every
 * transition, each with its reason and size, and a status snapshot.
 */
import type { GroupState } from "./group-state.js";

export type LinkState =
  | { kind: "idle" }
  | { kind: "connecting"; attempt: number }
  | { kind: "connected"; peer: string; sinceMs: number }
  | { kind: "backoff"; reason: string; retryInMs: number }
  | { kind: "paused"; reason: string; retryInMs: number }
  | { kind: "closed" };

export type ReplicationEvent =
  | { type: "state"; from: GroupState["kind"]; to: GroupState["kind"]; reason: string; bytes: number; message: string }
  | { type: "overflow"; droppedBytes: number; droppedEntries: number; message: string }
  | { type: "sync-progress"; doneBytes: number; totalBytes: number; etaMs: number | undefined }
  | { type: "consistent"; seq: number; message: string }
  | { type: "delta"; comparedBytes: number; differingBytes: number; message: string }
  | { type: "checkpoint"; seq: number; id: string; tag: string | undefined; consistent: boolean }
  | { type: "link"; state: LinkState; message: string }
  | { type: "error"; error: Error; message: string };

export interface SyncStatus {
  reason: string;
  totalBytes: number;
  doneBytes: number;
  /** Bytes per second over the sync so far. */
  rateBytesPerSec: number;
  etaMs: number | undefined;
}

export interface GroupStatus {
  group: string;
  state: GroupState;
  /** Milliseconds of history lost if the protected site vanished now (DESIGN.md); 0 when caught up. */
  rpoMs: number;
  lastSeq: number;
  ackedSeq: number;
  queueBytes: number;
  queueEntries: number;
  queueLimitBytes: number;
  dirtyBytes: number;
  sync: SyncStatus | undefined;
}

export interface SenderStatus {
  link: LinkState;
  /** Payload bytes the recovery site acknowledged. */
  ackedBytes: number;
  /** Record bytes sent before compression, and frame bytes on the wire. */
  rawBytes: number;
  wireBytes: number;
  compressionRatio: number;
  /** Batches sent, and the records in them: records per batch is what each frame's fixed cost is spread over. */
  batches: number;
  records: number;
  /** Recent throughput of acknowledged bytes. */
  throughputBytesPerSec: number;
  inFlightBytes: number;
  windowBytes: number;
  /** The tighter of the group's own limit and its site pair's. */
  bandwidthLimitBytesPerSec: number | undefined;
  reconnects: number;
}

export type Listener<E> = (e: E) => void;

/** A tiny typed event source: `on` returns the unsubscribe function. */
export class Emitter<E> {
  readonly #listeners = new Set<Listener<E>>();
  on(l: Listener<E>): () => void {
    this.#listeners.add(l);
    return () => this.#listeners.delete(l);
  }
  emit(e: E): void {
    for (const l of this.#listeners) l(e);
  }
}
