/**
 * What a fault found by a scan means: a torn tail (cut it) or corruption
 * (fail, naming segment and offset). One rule, pure, applied alike by the
 * open and by `journal verify`, so that they never disagree.
 *
 * A torn tail is the batch being written when the process died, and only
 * that: its records were never reported durable, it lies in the last segment
 * (batches never span segments), within one batch of the end, and its fault
 * is a checksum or a truncation (a whole header with the wrong seq is never a
 * tear). The floor (durable-mark.ts, or the index snapshot, which covers only
 * durable records) settles what distance alone cannot: a fault at a seq at or
 * below it is corruption, however near the end. Records after a fault are not
 * looked at: if the fault's seq is above the floor they belong to the same
 * unsynced batch, which may land out of order, and go with it.
 */
import type { ScanFault } from "./scan.js";

/** Every seq through `seq` was durable; `why` says who says so, for messages. */
export interface DurableFloor {
  seq: number;
  why: string;
}

export interface FaultPlace {
  lastSegment: boolean;
  segmentBytes: number;
  tornWindowBytes: number;
  /** The seq that should have started where the fault is. */
  seq: number;
}

export type FaultVerdict = { torn: true } | { torn: false; reason: string; hint: string | undefined };

export const DURABLE_FAULT_HINT =
  "the record was reported durable, so this is damage, not a torn write: cutting here would lose acknowledged writes. Run `lifeline journal verify`, then restore the segment from a copy (or, to give up what follows, cut the segment here and remove journal/durable.mark)";

export function judgeFault(fault: ScanFault, place: FaultPlace, floor: DurableFloor | undefined): FaultVerdict {
  if (floor && place.seq <= floor.seq) return { torn: false, reason: `${fault.reason} at seq ${place.seq}; ${floor.why}`, hint: DURABLE_FAULT_HINT };
  const tearable = place.lastSegment && fault.tearable && fault.offset >= place.segmentBytes - place.tornWindowBytes;
  return tearable ? { torn: true } : { torn: false, reason: fault.reason, hint: undefined };
}

/** Why a journal that ends at `endSeq` has lost durable records, or undefined when it has not. */
export function missingDurable(endSeq: number, floor: DurableFloor | undefined): string | undefined {
  if (!floor || endSeq >= floor.seq) return undefined;
  return `the journal ends at seq ${endSeq}, but ${floor.why}: records ${endSeq + 1} to ${floor.seq} are missing`;
}

/** The higher of two floors (either may be missing). */
export function higherFloor(a: DurableFloor | undefined, b: DurableFloor | undefined): DurableFloor | undefined {
  if (!a) return b;
  if (!b) return a;
  return b.seq > a.seq ? b : a;
}
