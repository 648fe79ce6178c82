/**
 * The journal's record format: a fixed 48-byte header, then the payload (the
 * written bytes, or a checkpoint's id and tag). Pure functions over buffers.
 *
 *   0  u32 hcrc     crc32c of bytes 4..48: the header, including dcrc
 *   4  u32 dcrc     crc32c of the payload
 *   8  u8  type     WRITE, ZERO, TRIM, CHECKPOINT
 *   9  u8  flags    CHECKPOINT: bit 0 = consistent
 *  10  u16 disk     the disk's id in the group (0 for checkpoints)
 *  12  u32 payload  payload bytes that follow the header
 *  16  u64 seq      group-wide order
 *  24  f64 timeMs   the source's clock, ms since the epoch
 *  32  u64 offset   byte offset on the disk
 *  40  u64 length   bytes on the disk the record covers
 *
 * Two checksums rather than one: the header checksum lets the index be rebuilt
 * from headers alone (never reading data) while still catching a damaged
 * header; the header covers dcrc, so together they cover header and data.
 */
import { crc32c } from "../checksum/index.js";

export const HEADER_BYTES = 48;
/** Largest payload of one record; larger writes are split by the caller. */
export const MAX_PAYLOAD_BYTES = 32 * 1024 * 1024;

export const RecordType = { WRITE: 1, ZERO: 2, TRIM: 3, CHECKPOINT: 4 } as const;
export type RecordType = (typeof RecordType)[keyof typeof RecordType];

export interface RecordHeader {
  type: RecordType;
  flags: number;
  disk: number;
  payloadBytes: number;
  dcrc: number;
  seq: number;
  timeMs: number;
  offset: number;
  length: number;
}

export interface CheckpointPayload {
  id: string;
  tag: string | undefined;
}

const TWO32 = 2 ** 32;

/** `dcrc`: the payload's crc32c when the caller knows it already (a trusted value: it hashed these bytes). */
export function encodeHeader(h: Omit<RecordHeader, "dcrc">, payload: Buffer | undefined, into?: Buffer, dcrc?: number): Buffer {
  const b = into ?? Buffer.allocUnsafe(HEADER_BYTES);
  writeHeader(b, 0, h, h.payloadBytes, payload && payload.length > 0 ? (dcrc ?? crc32c(payload)) : 0);
  return b;
}

/**
 * Writes a header at `b[at]` with a known payload checksum. The append path
 * uses this to put headers straight into its batch buffer: a Buffer per
 * record, then a copy of it, was a measurable part of a 4 KiB append's CPU.
 */
export function writeHeader(b: Buffer, at: number, h: Omit<RecordHeader, "dcrc" | "payloadBytes">, payloadBytes: number, dcrc: number): void {
  b.writeUInt32LE(dcrc, at + 4);
  b[at + 8] = h.type;
  b[at + 9] = h.flags;
  b.writeUInt16LE(h.disk, at + 10);
  b.writeUInt32LE(payloadBytes, at + 12);
  writeU64(b, at + 16, h.seq);
  b.writeDoubleLE(h.timeMs, at + 24);
  writeU64(b, at + 32, h.offset);
  writeU64(b, at + 40, h.length);
  b.writeUInt32LE(crc32cSmall(b, at + 4, at + HEADER_BYTES), at);
}

/** Decodes a header, or returns why it is not one (a bad checksum, an unknown type). */
export function decodeHeader(b: Buffer, at: number): RecordHeader | string {
  if (b.length - at < HEADER_BYTES) return "truncated header";
  if (crc32cSmall(b, at + 4, at + HEADER_BYTES) !== b.readUInt32LE(at)) return "header checksum mismatch";
  const type = b[at + 8]!;
  if (type < RecordType.WRITE || type > RecordType.CHECKPOINT) return `unknown record type ${type}`;
  const payloadBytes = b.readUInt32LE(at + 12);
  if (payloadBytes > MAX_PAYLOAD_BYTES) return `payload of ${payloadBytes} bytes is too large`;
  return {
    type: type as RecordType,
    flags: b[at + 9]!,
    disk: b.readUInt16LE(at + 10),
    payloadBytes,
    dcrc: b.readUInt32LE(at + 4),
    seq: readU64(b, at + 16),
    timeMs: b.readDoubleLE(at + 24),
    offset: readU64(b, at + 32),
    length: readU64(b, at + 40),
  };
}

export function payloadChecksumOk(h: RecordHeader, payload: Buffer): boolean {
  return (payload.length === 0 ? 0 : crc32c(payload)) === h.dcrc;
}

export function encodeCheckpointPayload(p: CheckpointPayload): Buffer {
  const id = Buffer.from(p.id, "utf8");
  const tag = Buffer.from(p.tag ?? "", "utf8");
  const b = Buffer.allocUnsafe(2 + id.length + tag.length);
  b.writeUInt16LE(id.length, 0);
  id.copy(b, 2);
  tag.copy(b, 2 + id.length);
  return b;
}

export function decodeCheckpointPayload(b: Buffer): CheckpointPayload {
  const idBytes = b.readUInt16LE(0);
  const tag = b.toString("utf8", 2 + idBytes);
  return { id: b.toString("utf8", 2, 2 + idBytes), tag: tag === "" ? undefined : tag };
}

const CRC32C_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();

/**
 * CRC32C of a few bytes, in JavaScript: for a 44-byte header this is about
 * twice as fast as a call into the native library (which wins on payloads).
 * The same checksum as crc32c(); record.test.ts checks that they agree.
 */
export function crc32cSmall(b: Buffer, from: number, to: number): number {
  let c = ~0;
  for (let i = from; i < to; i++) c = CRC32C_TABLE[(c ^ b[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

export function writeU64(b: Buffer, at: number, n: number): void {
  b.writeUInt32LE(n >>> 0, at);
  b.writeUInt32LE(Math.floor(n / TWO32), at + 4);
}

export function readU64(b: Buffer, at: number): number {
  return b.readUInt32LE(at + 4) * TWO32 + b.readUInt32LE(at);
}
