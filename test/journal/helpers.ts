/** Shared bits of the journal tests: temp directories, a model of the disks, a torn batch. */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { HEADER_BYTES, RecordType, encodeHeader } from "../../src/journal/record.js";

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `lifeline-${prefix}-`));
}

export type ModelOp =
  | { seq: number; kind: "write"; disk: string; offset: number; data: Buffer }
  | { seq: number; kind: "zero"; disk: string; offset: number; length: number }
  | { seq: number; kind: "checkpoint" };

/** The expected disks: every op in seq order, replayed on demand. */
export class DiskModel {
  readonly sizes: Map<string, number>;
  ops: ModelOp[] = [];

  constructor(sizes: Map<string, number>) {
    this.sizes = sizes;
  }

  image(disk: string, seq: number): Buffer {
    const img = Buffer.alloc(this.sizes.get(disk)!);
    for (const op of this.ops) {
      if (op.seq > seq) break;
      if (op.kind === "write" && op.disk === disk) op.data.copy(img, op.offset);
      else if (op.kind === "zero" && op.disk === disk) img.fill(0, op.offset, op.offset + op.length);
    }
    return img;
  }

  /** Forgets ops after `seq` (a torn tail cut them). */
  cut(seq: number): void {
    this.ops = this.ops.filter((o) => o.seq <= seq);
  }
}

/** Bytes derived from a seed, so that every write is distinguishable. */
export function pattern(length: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(length);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

export interface TornBatch {
  /** Seq of the batch's first record: the one after the journal's last. */
  fromSeq: number;
  count: number;
  /** Bytes of each record's payload (written to disk 0 at offset 0). */
  payloadBytes?: number;
  /** How many of the batch's bytes reached the file (default: all of them). */
  keepBytes?: number;
  /** A byte of the first record's payload that did not land as written (the batch landed out of order). */
  damageFirst?: boolean;
}

/**
 * What a process killed mid-batch leaves at the end of the last segment: a
 * batch never reported durable, partly written. Appended by hand to a
 * journal closed cleanly, so the test knows exactly what was durable.
 * Returns the batch's size in bytes.
 */
export function tearTail(dir: string, batch: TornBatch): number {
  const payloadBytes = batch.payloadBytes ?? 4096;
  const parts: Buffer[] = [];
  for (let i = 0; i < batch.count; i++) {
    const seq = batch.fromSeq + i;
    const data = pattern(payloadBytes, seq);
    parts.push(encodeHeader({ type: RecordType.WRITE, flags: 0, disk: 0, payloadBytes, seq, timeMs: seq, offset: 0, length: payloadBytes }, data), data);
  }
  const bytes = Buffer.concat(parts);
  if (batch.damageFirst) bytes[HEADER_BYTES + 7]! ^= 0xff;
  const segDir = path.join(dir, "journal");
  const last = fs.readdirSync(segDir).filter((n) => n.endsWith(".seg")).sort().at(-1)!;
  fs.appendFileSync(path.join(segDir, last), bytes.subarray(0, batch.keepBytes ?? bytes.length));
  return bytes.length;
}

/** Flips one byte of a file in place. */
export function flipByte(file: string, at: number): void {
  const fd = fs.openSync(file, "r+");
  try {
    const b = Buffer.alloc(1);
    fs.readSync(fd, b, 0, 1, at);
    b[0] = b[0]! ^ 0x5a;
    fs.writeSync(fd, b, 0, 1, at);
  } finally {
    fs.closeSync(fd);
  }
}
