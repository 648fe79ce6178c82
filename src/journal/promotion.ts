/**
 * Promotion: records leave the journal for the replica, oldest first. The
 * plan is pure (how far may we go: the history window, what is durable, the
 * oldest pin); the steps are in Journal.promote, in this order, each safe to
 * crash after:
 *
 *   1. persist promotingToSeq = T   (an open finishes a cut-short promotion)
 *   2. apply records (A, T] to the replicas, in seq order
 *   3. flush the replicas
 *   4. persist appliedThroughSeq = T
 *   5. delete whole segments ≤ T
 *
 * Re-applying after a crash is harmless because it is in order: the replica
 * ends at T whatever part of (A, T] it held before.
 */
import type { BlockDevice } from "../blockdev/index.js";
import { RecordType } from "./record.js";
import type { RecordRow } from "./record-table.js";

export interface PromoteOptions {
  /** Promote through this seq (still bounded by durability and pins). */
  throughSeq?: number;
  /** "Now" for the history window (default Date.now()). */
  nowMs?: number;
  /** Only to finish a promotion cut short by a crash (its pins were checked then). */
  ignorePins?: boolean;
  onProgress?: (doneRecords: number, totalRecords: number) => void;
}

export interface PromoteResult {
  fromSeq: number;
  throughSeq: number;
  deletedSegments: string[];
}

export interface PromotionPlanInput {
  appliedThroughSeq: number;
  durableSeq: number;
  /** The newest seq older than the history window. */
  windowSeq: number;
  requestedSeq: number | undefined;
  minPinSeq: number | undefined;
}

/** The seq to promote through; ≤ appliedThroughSeq means nothing to do. */
export function planPromotion(p: PromotionPlanInput): number {
  let target = p.requestedSeq ?? p.windowSeq;
  target = Math.min(target, p.durableSeq);
  if (p.minPinSeq !== undefined) target = Math.min(target, p.minPinSeq);
  return Math.max(target, p.appliedThroughSeq);
}

export interface RecordSource {
  record(seq: number): RecordRow;
  readRecord(seq: number, delta: number, buffer: Buffer, bufferOffset: number, length: number): Promise<void>;
  replica(disk: number): BlockDevice;
}

/** Applies records [fromSeq, toSeq] to the replicas, in order. */
export async function applyRecords(source: RecordSource, fromSeq: number, toSeq: number, onProgress?: (done: number, total: number) => void): Promise<void> {
  const total = toSeq - fromSeq + 1;
  let buffer = Buffer.allocUnsafe(1 << 20);
  for (let seq = fromSeq; seq <= toSeq; seq++) {
    const r = source.record(seq);
    if (r.type === RecordType.WRITE) {
      if (r.length > buffer.length) buffer = Buffer.allocUnsafe(r.length);
      const data = buffer.subarray(0, r.length);
      await source.readRecord(seq, 0, data, 0, r.length);
      await source.replica(r.disk).write(r.offset, data);
    } else if (r.type === RecordType.ZERO || r.type === RecordType.TRIM) {
      // TRIM too reads as zeroes in a view, so the replica must zero it, not merely discard it.
      if (r.length > 0) await source.replica(r.disk).writeZeroes(r.offset, r.length);
    }
    if (onProgress && ((seq - fromSeq) % 4096 === 4095 || seq === toSeq)) onProgress(seq - fromSeq + 1, total);
  }
}
