/**
 * The persisted index snapshot (`journal/index.snap`), so that a journal of
 * millions of records opens without reading every header again. It holds the
 * record table's columns for durable records and where each segment's scan
 * stood; the open checks it against the segments on disk and scans only what
 * came after. Any doubt (a bad checksum, a segment it does not match) and it
 * is ignored: it is a cache, the segments are the truth. One thing it does
 * vouch for: it covers only durable records, so when it is used (and in
 * `journal verify`) its last seq is a durable floor (fault-rule.ts), like the
 * durable mark, which is rewritten after each snapshot.
 *
 * Layout: "LLJSNAP1", u32 meta length, u32 crc32c of all that follows, the
 * meta JSON, zero padding to 8 bytes, then the columns back to back.
 */
import fs from "node:fs/promises";
import { crc32c } from "../checksum/index.js";
import { writeFileAtomic } from "./atomic-file.js";
import type { RecordTable } from "./record-table.js";
import type { RecordType } from "./record.js";

const MAGIC = Buffer.from("LLJSNAP1", "latin1");
const YIELD_EVERY = 65536;
export const SNAPSHOT_FILE = "index.snap";

export interface SnapshotSegment {
  name: string;
  firstSeq: number;
  lastSeq: number;
  /** Bytes of the segment the snapshot covers. */
  sizeBytes: number;
}

export interface SnapshotMeta {
  version: 2;
  /** First and last seq in the columns. */
  firstSeq: number;
  lastSeq: number;
  segments: SnapshotSegment[];
  /** Parallel arrays, not objects: a 30-day history holds millions (times are in the columns). */
  checkpoints: CheckpointColumns;
}

export interface CheckpointColumns {
  seqs: number[];
  ids: string[];
  tags: [number, string][];
  inconsistent: number[];
}

export interface SnapshotColumns {
  kind: Uint32Array;
  timeMs: Float64Array;
  offset: Float64Array;
  length: Float64Array;
  dataPos: Uint32Array;
}

export async function writeSnapshot(file: string, meta: SnapshotMeta, table: RecordTable): Promise<void> {
  const n = meta.lastSeq - meta.firstSeq + 1;
  const kind = new Uint32Array(n);
  const timeMs = new Float64Array(n);
  const offset = new Float64Array(n);
  const length = new Float64Array(n);
  const dataPos = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    // A large index is copied in slices, letting appends and reads run between them.
    if (i % YIELD_EVERY === YIELD_EVERY - 1) await new Promise((resolve) => setImmediate(resolve));
    const seq = meta.firstSeq + i;
    kind[i] = table.type(seq) | (table.disk(seq) << 8);
    timeMs[i] = table.timeMs(seq);
    offset[i] = table.offset(seq);
    length[i] = table.length(seq);
    dataPos[i] = table.dataPos(seq);
  }
  let json = Buffer.from(JSON.stringify(meta));
  const pad = (8 - ((16 + json.length) % 8)) % 8;
  if (pad) json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const body = [json, ...[timeMs, offset, length, kind, dataPos].map((a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength))];
  let crc = 0;
  for (const b of body) crc = crc32c(b, crc);
  const head = Buffer.alloc(16);
  MAGIC.copy(head, 0);
  head.writeUInt32LE(json.length, 8);
  head.writeUInt32LE(crc, 12);
  await writeFileAtomic(file, [head, ...body]);
}

/** Reads a snapshot, or returns why it cannot be used. */
export async function readSnapshot(file: string): Promise<{ meta: SnapshotMeta; columns: SnapshotColumns } | string> {
  let b: Buffer;
  try {
    b = await fs.readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return "no snapshot";
    throw err;
  }
  if (b.length < 16 || !b.subarray(0, 8).equals(MAGIC)) return "not a snapshot file";
  const jsonBytes = b.readUInt32LE(8);
  if (crc32c(b.subarray(16)) !== b.readUInt32LE(12)) return "snapshot checksum mismatch";
  const meta = JSON.parse(b.toString("utf8", 16, 16 + jsonBytes)) as SnapshotMeta;
  if (meta.version !== 2) return `snapshot version ${String(meta.version)} unknown`;
  const n = meta.lastSeq - meta.firstSeq + 1;
  // Copy into aligned memory: the file buffer may start at any offset in Node's pool.
  const data = new Uint8Array(b.length - 16 - jsonBytes);
  data.set(b.subarray(16 + jsonBytes));
  if (data.length !== n * 32) return "snapshot columns truncated";
  const f64 = (i: number) => new Float64Array(data.buffer, data.byteOffset + i * n * 8, n);
  return {
    meta,
    columns: {
      timeMs: f64(0),
      offset: f64(1),
      length: f64(2),
      kind: new Uint32Array(data.buffer, data.byteOffset + 24 * n, n),
      dataPos: new Uint32Array(data.buffer, data.byteOffset + 28 * n, n),
    },
  };
}

export function columnType(columns: SnapshotColumns, i: number): RecordType {
  return (columns.kind[i]! & 0xff) as RecordType;
}
