/**
 * What a caller appends, and its checks at the journal's boundary (STYLE 8):
 * the seq must be the next one, the disk known, the range inside it. Inside
 * the journal, records are trusted.
 */
import { JournalError, JournalOrderError } from "./errors.js";
import type { DiskInfo } from "./group-files.js";
import type { PendingRecord } from "./appender.js";
import { crc32c } from "../checksum/index.js";
import { MAX_PAYLOAD_BYTES, RecordType, encodeCheckpointPayload } from "./record.js";

export type AppendInput =
  /** `dataCrc`: crc32c of `data` when the caller has it already (checked on its way in); else computed here. */
  | { type: "write"; seq: number; timeMs: number; disk: string; offset: number; data: Buffer; dataCrc?: number | undefined }
  | { type: "zero" | "trim"; seq: number; timeMs: number; disk: string; offset: number; length: number }
  | { type: "checkpoint"; seq: number; timeMs: number; id: string; tag?: string; consistent?: boolean };

/**
 * Builds the record to queue. The journal keeps a reference to a write's
 * `data` until the append's promise settles: the caller must not reuse the
 * buffer before (this saves a copy of every byte on the hot path).
 */
export function buildRecord(
  input: AppendInput,
  expectSeq: number,
  disks: ReadonlyMap<string, DiskInfo>,
  resolve: () => void,
  reject: (err: Error) => void,
): PendingRecord {
  if (input.seq !== expectSeq) {
    throw new JournalOrderError(`append of seq ${input.seq}, but the next seq is ${expectSeq}`, {
      hint: "the stream must be appended in order, without gaps; resent seqs are dropped by the receiver",
    });
  }
  if (input.type === "checkpoint") {
    if (Buffer.byteLength(input.id) > 1024 || Buffer.byteLength(input.tag ?? "") > 4096) throw new JournalError("a checkpoint id is at most 1 KiB and a tag 4 KiB");
    const payload = encodeCheckpointPayload({ id: input.id, tag: input.tag });
    const flags = input.consistent === false ? 0 : 1;
    return {
      seq: input.seq,
      type: RecordType.CHECKPOINT,
      flags,
      disk: 0,
      timeMs: input.timeMs,
      offset: 0,
      length: 0,
      checkpoint: { id: input.id, tag: input.tag, consistent: flags === 1 },
      dcrc: crc32c(payload),
      payload,
      resolve,
      reject,
    };
  }
  const disk = disks.get(input.disk);
  if (!disk) throw new JournalError(`no disk "${input.disk}" in this group`);
  const length = input.type === "write" ? input.data.length : input.length;
  if (input.offset < 0 || length < 0 || input.offset + length > disk.sizeBytes || !Number.isSafeInteger(input.offset)) {
    throw new JournalError(`range ${input.offset}+${length} is outside disk "${disk.name}" (${disk.sizeBytes} bytes)`);
  }
  if (input.type === "write" && length > MAX_PAYLOAD_BYTES) {
    throw new JournalError(`a write of ${length} bytes is larger than a record holds (${MAX_PAYLOAD_BYTES}); split it`);
  }
  const type = input.type === "write" ? RecordType.WRITE : input.type === "zero" ? RecordType.ZERO : RecordType.TRIM;
  const payload = input.type === "write" ? input.data : undefined;
  // The payload's checksum is taken now, from the caller's buffer; the header is written at batch time (appender.ts).
  const dcrc = payload === undefined || payload.length === 0 ? 0 : input.type === "write" ? (input.dataCrc ?? crc32c(payload)) : 0;
  return { seq: input.seq, type, flags: 0, disk: disk.id, timeMs: input.timeMs, offset: input.offset, length, checkpoint: undefined, dcrc, payload, resolve, reject };
}
