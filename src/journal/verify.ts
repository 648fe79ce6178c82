/**
 * `journal verify`: read every record of every segment, payloads included,
 * and report the first fault with its segment and offset. A torn tail (what a
 * crash leaves, and what the next open cuts off) is reported, not a fault.
 * Opens nothing for writing: safe on a journal in use.
 */
import fs from "node:fs/promises";
import path from "node:path";
import { TORN_WINDOW_BYTES } from "./appender.js";
import { SEGMENT_DIR, readGroupConfig, readJournalState } from "./group-files.js";
import { RecordType } from "./record.js";
import { scanSegment } from "./scan.js";
import { Segment, parseSegmentFileName } from "./segment.js";

export interface VerifyResult {
  ok: boolean;
  segments: number;
  records: number;
  bytes: number;
  firstSeq: number | undefined;
  lastSeq: number | undefined;
  fault: { segment: string; offset: number; reason: string } | undefined;
  tornTail: { segment: string; offset: number; reason: string } | undefined;
}

export async function verifyJournal(dir: string, options: { tornWindowBytes?: number; onProgress?: (segment: string) => void } = {}): Promise<VerifyResult> {
  const config = await readGroupConfig(dir);
  const state = await readJournalState(dir, config);
  const known = new Set(config.disks.map((d) => d.id));
  const segDir = path.join(dir, SEGMENT_DIR);
  const names = (await fs.readdir(segDir)).filter((n) => parseSegmentFileName(n) !== undefined).sort();
  const result: VerifyResult = { ok: true, segments: names.length, records: 0, bytes: 0, firstSeq: undefined, lastSeq: undefined, fault: undefined, tornTail: undefined };
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
      if (scan.fault) {
        const last = i === names.length - 1;
        const window = options.tornWindowBytes ?? TORN_WINDOW_BYTES;
        if (last && scan.fault.tearable && scan.fault.offset >= seg.sizeBytes - window) result.tornTail = { segment: name, offset: scan.fault.offset, reason: scan.fault.reason };
        else result.fault = { segment: name, offset: scan.fault.offset, reason: scan.fault.reason };
        break;
      }
    } finally {
      seg.close();
    }
  }
  result.ok = result.fault === undefined;
  return result;
}
