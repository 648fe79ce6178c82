/**
 * Encoding and decoding of one frame's body, pure over buffers (STYLE 3).
 * Decoding checks every field and throws FrameError with the reason; nothing
 * is trusted because the checksum matched (a buggy peer computes good crcs).
 *
 * Record body: seq u64, timeMs u64, disk u16, offset u64, length u32, flags u8,
 * then the payload (write/sync-block data, or a checkpoint's id and tag).
 */
import { FrameError } from "./errors.js";
import { ERROR_CODES, type Frame, FrameType, HASH_BYTES, type StreamRecord } from "./frames.js";

export const RECORD_HEADER_BYTES = 31;
const MAX_STRING_BYTES = 1024;
const MAX_DISKS = 4096;

const TYPE_OF: Record<Frame["type"], FrameType> = {
  hello: FrameType.HELLO,
  ack: FrameType.ACK,
  batch: FrameType.BATCH,
  "hash-request": FrameType.HASH_REQUEST,
  hashes: FrameType.HASHES,
  error: FrameType.ERROR,
  write: FrameType.WRITE,
  zero: FrameType.ZERO,
  trim: FrameType.TRIM,
  checkpoint: FrameType.CHECKPOINT,
  "sync-block": FrameType.SYNC_BLOCK,
};

export function frameTypeOf(f: Frame): FrameType {
  return TYPE_OF[f.type];
}

/** Bytes the body of `f` takes. */
export function bodyBytes(f: Frame): number {
  switch (f.type) {
    case "hello":
      return 1 + str(f.site) + str(f.group) + 8 + 2 + f.disks.reduce((n, d) => n + str(d.name) + 8, 0);
    case "ack":
      return 8;
    case "batch":
      return f.records.reduce((n, r) => n + 5 + bodyBytes(r), 0);
    case "hash-request":
      return 2 + 8 + 8 + 4;
    case "hashes":
      return 2 + 8 + 4 + f.hashes.length;
    case "error":
      return 1 + str(f.message);
    case "write":
      return RECORD_HEADER_BYTES + f.data.length;
    case "zero":
    case "trim":
      return RECORD_HEADER_BYTES;
    case "sync-block":
      return RECORD_HEADER_BYTES + (f.data?.length ?? 0);
    case "checkpoint":
      return RECORD_HEADER_BYTES + str(f.id) + 1 + (f.tag === undefined ? 0 : str(f.tag));
  }
}

/** Writes the body of `f` at `at`; returns the position after it. */
export function writeBody(f: Frame, b: Buffer, at: number): number {
  switch (f.type) {
    case "hello":
      at = b.writeUInt8(f.role === "sender" ? 1 : 2, at);
      at = putStr(b, at, f.site);
      at = putStr(b, at, f.group);
      at = putU64(b, at, f.durableSeq);
      at = b.writeUInt16BE(f.disks.length, at);
      for (const d of f.disks) at = putU64(b, putStr(b, at, d.name), d.sizeBytes);
      return at;
    case "ack":
      return putU64(b, at, f.durableSeq);
    case "batch":
      for (const r of f.records) {
        at = b.writeUInt8(TYPE_OF[r.type], at);
        const start = at + 4;
        const end = writeBody(r, b, start);
        b.writeUInt32BE(end - start, at);
        at = end;
      }
      return at;
    case "hash-request":
      return b.writeUInt32BE(f.blockBytes, putU64(b, putU64(b, b.writeUInt16BE(f.disk, at), f.offset), f.length));
    case "hashes":
      at = b.writeUInt32BE(f.blockBytes, putU64(b, b.writeUInt16BE(f.disk, at), f.offset));
      return at + f.hashes.copy(b, at);
    case "error":
      return putStr(b, b.writeUInt8(ERROR_CODES.indexOf(f.code), at), f.message);
    case "write":
      at = putRecordHeader(b, at, f, f.disk, f.offset, f.data.length, 0);
      return at + f.data.copy(b, at);
    case "zero":
    case "trim":
      return putRecordHeader(b, at, f, f.disk, f.offset, f.length, 0);
    case "sync-block":
      at = putRecordHeader(b, at, f, f.disk, f.offset, f.length, f.data ? 0 : 1);
      return f.data ? at + f.data.copy(b, at) : at;
    case "checkpoint":
      at = putRecordHeader(b, at, f, 0, 0, 0, f.consistent ? 1 : 0);
      at = putStr(b, at, f.id);
      if (f.tag === undefined) return b.writeUInt8(0, at);
      return putStr(b, b.writeUInt8(1, at), f.tag);
  }
}

/** Decodes a body of type `type` that spans all of `b`. Throws FrameError. */
export function readBody(type: number, b: Buffer): Frame {
  const r = new Reader(b);
  let f: Frame;
  switch (type) {
    case FrameType.HELLO: {
      const role = r.u8();
      if (role !== 1 && role !== 2) throw new FrameError(`HELLO with unknown role ${role}`);
      const site = r.str();
      const group = r.str();
      const durableSeq = r.u64();
      const n = r.u16();
      if (n > MAX_DISKS) throw new FrameError(`HELLO with ${n} disks`);
      const disks = [];
      for (let i = 0; i < n; i++) disks.push({ name: r.str(), sizeBytes: r.u64() });
      f = { type: "hello", role: role === 1 ? "sender" : "receiver", site, group, durableSeq, disks };
      break;
    }
    case FrameType.ACK:
      f = { type: "ack", durableSeq: r.u64() };
      break;
    case FrameType.BATCH: {
      const records: StreamRecord[] = [];
      while (r.remaining > 0) {
        const t = r.u8();
        if (t < FrameType.WRITE || t > FrameType.SYNC_BLOCK) throw new FrameError(`BATCH holds a record of type ${t}`);
        records.push(readBody(t, r.bytes(r.u32())) as StreamRecord);
      }
      f = { type: "batch", records };
      break;
    }
    case FrameType.HASH_REQUEST:
      f = { type: "hash-request", disk: r.u16(), offset: r.u64(), length: r.u64(), blockBytes: r.u32() };
      if (f.blockBytes === 0) throw new FrameError("HASH_REQUEST with a block size of 0");
      break;
    case FrameType.HASHES: {
      const disk = r.u16();
      const offset = r.u64();
      const blockBytes = r.u32();
      const hashes = r.bytes(r.remaining);
      if (hashes.length % HASH_BYTES !== 0) throw new FrameError(`HASHES of ${hashes.length} bytes, not a multiple of ${HASH_BYTES}`);
      f = { type: "hashes", disk, offset, blockBytes, hashes };
      break;
    }
    case FrameType.ERROR: {
      const code = ERROR_CODES[r.u8()];
      if (code === undefined) throw new FrameError("ERROR with an unknown code");
      f = { type: "error", code, message: r.str() };
      break;
    }
    case FrameType.WRITE:
    case FrameType.ZERO:
    case FrameType.TRIM:
    case FrameType.CHECKPOINT:
    case FrameType.SYNC_BLOCK:
      f = readRecord(type, r);
      break;
    default:
      throw new FrameError(`unknown frame type ${type}`);
  }
  if (r.remaining !== 0) throw new FrameError(`${r.remaining} bytes left over after a ${f.type} frame`);
  return f;
}

function readRecord(type: FrameType, r: Reader): StreamRecord {
  const seq = r.u64();
  const timeMs = r.u64();
  const disk = r.u16();
  const offset = r.u64();
  const length = r.u32();
  const flags = r.u8();
  if (seq === 0) throw new FrameError("a record with seq 0");
  switch (type) {
    case FrameType.WRITE:
      if (flags !== 0) throw new FrameError(`WRITE with flags ${flags}`);
      if (length !== r.remaining || length === 0) throw new FrameError(`WRITE says ${length} bytes and carries ${r.remaining}`);
      return { type: "write", seq, timeMs, disk, offset, data: r.bytes(length) };
    case FrameType.ZERO:
    case FrameType.TRIM:
      if (flags !== 0) throw new FrameError(`ZERO/TRIM with flags ${flags}`);
      return { type: type === FrameType.ZERO ? "zero" : "trim", seq, timeMs, disk, offset, length };
    case FrameType.SYNC_BLOCK: {
      if (flags > 1) throw new FrameError(`SYNC_BLOCK with flags ${flags}`);
      const zero = flags === 1;
      if (!zero && length !== r.remaining) throw new FrameError(`SYNC_BLOCK says ${length} bytes and carries ${r.remaining}`);
      return { type: "sync-block", seq, timeMs, disk, offset, length, data: zero ? undefined : r.bytes(length) };
    }
    default: {
      if (flags > 1 || disk !== 0 || offset !== 0 || length !== 0) throw new FrameError("CHECKPOINT with data fields set");
      const id = r.str();
      const hasTag = r.u8();
      if (hasTag > 1) throw new FrameError("CHECKPOINT with a bad tag marker");
      return { type: "checkpoint", seq, timeMs, id, tag: hasTag ? r.str() : undefined, consistent: flags === 1 };
    }
  }
}

function putRecordHeader(b: Buffer, at: number, f: { seq: number; timeMs: number }, disk: number, offset: number, length: number, flags: number): number {
  at = putU64(b, putU64(b, at, f.seq), f.timeMs);
  at = b.writeUInt16BE(disk, at);
  at = putU64(b, at, offset);
  at = b.writeUInt32BE(length, at);
  return b.writeUInt8(flags, at);
}

function str(s: string): number {
  const n = Buffer.byteLength(s);
  if (n > MAX_STRING_BYTES) throw new RangeError(`string of ${n} bytes is too long for a frame`);
  return 2 + n;
}

function putStr(b: Buffer, at: number, s: string): number {
  const n = b.write(s, at + 2, "utf8");
  b.writeUInt16BE(n, at);
  return at + 2 + n;
}

function putU64(b: Buffer, at: number, v: number): number {
  b.writeUInt32BE(Math.floor(v / 0x1_0000_0000), at);
  return b.writeUInt32BE(v >>> 0, at + 4);
}

/** A cursor that throws FrameError, never RangeError, when a body is short. */
class Reader {
  readonly #b: Buffer;
  #at = 0;
  constructor(b: Buffer) {
    this.#b = b;
  }
  get remaining(): number {
    return this.#b.length - this.#at;
  }
  #need(n: number): number {
    if (this.remaining < n) throw new FrameError(`body ends ${n - this.remaining} bytes early`);
    const at = this.#at;
    this.#at += n;
    return at;
  }
  u8(): number {
    return this.#b.readUInt8(this.#need(1));
  }
  u16(): number {
    return this.#b.readUInt16BE(this.#need(2));
  }
  u32(): number {
    return this.#b.readUInt32BE(this.#need(4));
  }
  u64(): number {
    const at = this.#need(8);
    const hi = this.#b.readUInt32BE(at);
    if (hi >= 0x20_0000) throw new FrameError("a 64-bit field past 2^53");
    return hi * 0x1_0000_0000 + this.#b.readUInt32BE(at + 4);
  }
  bytes(n: number): Buffer {
    const at = this.#need(n);
    return this.#b.subarray(at, at + n);
  }
  str(): string {
    const n = this.u16();
    if (n > MAX_STRING_BYTES) throw new FrameError(`a string of ${n} bytes`);
    const s = this.#b.toString("utf8", this.#need(n), this.#at);
    if (Buffer.byteLength(s) !== n) throw new FrameError("a string that is not valid UTF-8");
    return s;
  }
}
