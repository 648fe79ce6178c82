/**
 * `journal verify`: read every record of every segment, payloads included,
 * and report the first fault with its segment and offset. A torn tail (what a
 * crash leaves, and what the next open cuts off) is reported, not a fault;
 * what is a torn tail is decided as the open decides it (fault-rule.ts),
 * against the durable mark and the index snapshot: a bad record at or below
 * the seq either vouches for is a fault, and so is a journal that ends
 * before it. Opens nothing for writing: safe on a journal in use (the mark
 * and the snapshot are read before the segments, which only grow).
 */
import fs from "node:fs/promises";
import path from "node:path";
import { TORN_WINDOW_BYTES } from "./appender.js";
import { DURABLE_MARK_FILE, describeMark, readDurableMark } from "./durable-mark.js";
import { type DurableFloor, higherFloor, judgeFault, missingDurable } from "./fault-rule.js";
import { SEGMENT_DIR, readGroupConfig, readJournalState } from "./group-files.js";
import { RecordType } from "./record.js";
import { scanSegment } from "./scan.js";
import { Segment, parseSegmentFileName } from "./segment.js";
import { SNAPSHOT_FILE, readSnapshot } from "./snapshot.js";

export interface VerifyResult {
  ok: boolean;
  segments: number;
  records: number;
  bytes: number;
  firstSeq: number | undefined;
  lastSeq: number | undefined;
  fault: { segment: string; offset: number; reason: string } | undefined;
  tornTail: { segment: string; offset: number; reason: string } | undefined;
  /** Every seq through this one was durable, by the durable mark or the snapshot; undefined when neither says. */
  durableFloorSeq: number | undefined;
}

export async function verifyJournal(dir: string, options: { tornWindowBytes?: number; onProgress?: (segment: string) => void } = {}): Promise<VerifyResult> {
  const config = await readGroupConfig(dir);
  const state = await readJournalState(dir, config);
  const known = new Set(config.disks.map((d) => d.id));
  const segDir = path.join(dir, SEGMENT_DIR);
  const floor = await durableFloor(segDir);
  const names = (await fs.readdir(segDir)).filter((n) => parseSegmentFileName(n) !== undefined).sort();
  const result: VerifyResult = { ok: true, segments: names.length, records: 0, bytes: 0, firstSeq: undefined, lastSeq: undefined, fault: undefined, tornTail: undefined, durableFloorSeq: floor?.seq };
  const window = options.tornWindowBytes ?? TORN_WINDOW_BYTES;
  let end: { segment: string; offset: number } | undefined;
  let expect: number | undefined;
  for (let i = 0; i < names.length; i++) {
    const name = names[i]!;
    options.onProgress?.(name);
    const seg = await Segment.open(path.join(segDir, name), parseSegmentFileName(name)!, true);
    try {
      result.bytes += seg.sizeBytes;
      if (expect !== undefined && seg.firstSeq !== expect) {
        result.fault = { segment: name, offset: 0, reason: `segment starts at seq ${seg.firstSeq}, but the one before ends at ${expect - 1}` };
        break;
      }
      if (i === 0 && seg.firstSeq > state.appliedThroughSeq + 1) {
        result.fault = { segment: name, offset: 0, reason: `the replica is applied through ${state.appliedThroughSeq}, but the journal starts at ${seg.firstSeq}` };
        break;
      }
      let badDisk: { offset: number; reason: string } | undefined;
      const scan = await scanSegment(seg, {
        from: 0,
        expectSeq: seg.firstSeq,
        verifyData: () => true,
        onRecord: (r) => {
          result.records++;
          if (!badDisk && r.header.type !== RecordType.CHECKPOINT && !known.has(r.header.disk)) badDisk = { offset: r.pos, reason: `unknown disk ${r.header.disk}` };
        },
      });
      if (badDisk) {
        result.fault = { segment: name, ...badDisk };
        break;
      }
      if (scan.lastSeq >= seg.firstSeq) {
        result.firstSeq ??= seg.firstSeq;
        result.lastSeq = scan.lastSeq;
      }
      expect = scan.lastSeq + 1;
      end = { segment: name, offset: scan.endPos };
      if (scan.fault) {
        const place = { lastSegment: i === names.length - 1, segmentBytes: seg.sizeBytes, tornWindowBytes: window, seq: scan.lastSeq + 1 };
        const verdict = judgeFault(scan.fault, place, floor);
        if (verdict.torn) result.tornTail = { segment: name, offset: scan.fault.offset, reason: scan.fault.reason };
        else result.fault = { segment: name, offset: scan.fault.offset, reason: verdict.reason };
        break;
      }
    } finally {
      seg.close();
    }
  }
  if (!result.fault) {
    const lost = missingDurable(Math.max((expect ?? state.appliedThroughSeq + 1) - 1, state.appliedThroughSeq), floor);
    if (lost) result.fault = { segment: end?.segment ?? SEGMENT_DIR, offset: end?.offset ?? 0, reason: lost };
  }
  result.ok = result.fault === undefined;
  return result;
}

/** The higher of what the durable mark and the index snapshot vouch for. */
async function durableFloor(segDir: string): Promise<DurableFloor | undefined> {
  const mark = await readDurableMark(path.join(segDir, DURABLE_MARK_FILE));
  const snap = await readSnapshot(path.join(segDir, SNAPSHOT_FILE));
  const fromSnapshot = typeof snap !== "string" && snap.meta.lastSeq >= snap.meta.firstSeq ? { seq: snap.meta.lastSeq, why: `seq ${snap.meta.lastSeq} is in the index snapshot, which covers only durable records` } : undefined;
  return higherFloor(mark && { seq: mark.seq, why: describeMark(mark) }, fromSnapshot);
}
