/**
 * The frame envelope: length, version, type, flags and a crc32c, around a
 * body that may be lz4-compressed. Pure functions over buffers plus a reader
 * that cuts a byte stream into frames; sockets live elsewhere (link.ts).
 *
 *   0  u32 frame bytes (all of it, this header included)
 *   4  u8  version           5  u8 type
 *   6  u8  flags (1 = lz4)   7  u8 reserved, 0
 *   8  u32 crc32c over bytes 0..8 and the body as sent
 *  12  body (lz4: the block format with its u32 LE size in front)
 *
 * The checksum is over the bytes on the wire, so a damaged frame is refused
 * before it is decompressed; the decompressed size is checked against the
 * limit before lz4 allocates anything.
 */
import { crc32c } from "../checksum/index.js";
import { compressSync, uncompressSync } from "lz4-napi";
import { crc32cCombine } from "./crc32c-combine.js";
import { FrameError } from "./errors.js";
import { type BatchFrame, type Frame, PROTOCOL_VERSION } from "./frames.js";
import { bodyBytes, frameTypeOf, readBody, writeBody } from "./record-codec.js";

export const FRAME_HEADER_BYTES = 12;
/** No frame is larger: a batch is cut well below it, and a single write is at most 32 MiB. */
export const MAX_FRAME_BYTES = 48 * 1024 * 1024;
const FLAG_LZ4 = 1;
/** Compress only when it saves at least this fraction. */
const MIN_SAVING = 0.1;

export interface EncodedFrame {
  frame: Buffer;
  /** Body bytes before compression. */
  rawBytes: number;
  compressed: boolean;
}

/** Encodes `f`; with `compress`, the body is lz4'd when that shrinks it enough. */
export function encodeFrame(f: Frame, options: { compress?: boolean } = {}): EncodedFrame {
  const rawBytes = bodyBytes(f);
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + rawBytes);
  const end = writeBody(f, frame, FRAME_HEADER_BYTES);
  if (end !== frame.length) throw new Error(`frame body of ${f.type} wrote ${end - FRAME_HEADER_BYTES} bytes, expected ${rawBytes}`);
  if (options.compress && rawBytes >= 512) {
    const packed = compressSync(frame.subarray(FRAME_HEADER_BYTES));
    if (packed.length <= rawBytes * (1 - MIN_SAVING)) {
      const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + packed.length);
      packed.copy(out, FRAME_HEADER_BYTES);
      return { frame: seal(out, frameTypeOf(f), FLAG_LZ4), rawBytes, compressed: true };
    }
  }
  return { frame: seal(frame, frameTypeOf(f), 0), rawBytes, compressed: false };
}

/** Bytes of a batch's data that `compressionLikely` compresses, in SAMPLE_PIECES pieces spread over the batch. */
const SAMPLE_BYTES = 8 * 1024;
const SAMPLE_PIECES = 4;
const sample = Buffer.allocUnsafeSlow(SAMPLE_BYTES);

/**
 * Whether lz4 is likely to shrink a batch by MIN_SAVING: lz4s a sample of its
 * data (8 KiB from four places) instead of the whole batch. lz4 is slow on
 * data it cannot shrink (≈ 6 ms a MiB here, more than everything else a
 * batch costs), and most disk writes are that (encrypted or compressed
 * files); the sample costs ≈ 1 % of a full attempt. Batches with less data
 * than the sample are tried whole.
 */
export function compressionLikely(records: BatchFrame["records"]): boolean {
  let dataBytes = 0;
  for (const r of records) dataBytes += dataOf(r).length;
  if (dataBytes <= SAMPLE_BYTES) return true;
  const pieceBytes = SAMPLE_BYTES / SAMPLE_PIECES;
  const stride = Math.floor(dataBytes / SAMPLE_PIECES);
  let at = 0;
  let base = 0;
  let ri = 0;
  for (let i = 0; i < SAMPLE_PIECES; i++) {
    // The piece starts at byte i * stride of the batch's data, and may run into the next records.
    let want = i * stride;
    let filled = 0;
    while (filled < pieceBytes && ri < records.length) {
      const data = dataOf(records[ri]!);
      if (want >= base + data.length) {
        base += data.length;
        ri++;
        continue;
      }
      const from = want - base;
      const n = Math.min(pieceBytes - filled, data.length - from);
      data.copy(sample, at, from, from + n);
      at += n;
      filled += n;
      want += n;
    }
  }
  return compressSync(sample.subarray(0, at)).length <= at * (1 - MIN_SAVING);
}

export function encodeBatch(records: BatchFrame["records"], compress: boolean): EncodedFrame {
  return encodeFrame({ type: "batch", records }, { compress });
}

/**
 * A BATCH frame as pieces, without copying any record's data: the frame and
 * record headers in one small buffer, the data buffers as they are, and the
 * crc32c computed over the pieces in order. The bytes are exactly those of
 * `encodeBatch(records, false)`; the socket gathers them (writev).
 */
export function encodeBatchPieces(records: BatchFrame["records"]): { pieces: Buffer[]; frameBytes: number; rawBytes: number } {
  let headBytes = FRAME_HEADER_BYTES;
  let rawBytes = 0;
  for (const r of records) {
    const body = bodyBytes(r);
    rawBytes += 5 + body;
    headBytes += 5 + body - dataOf(r).length;
  }
  const head = Buffer.allocUnsafe(headBytes);
  const pieces: Buffer[] = [];
  let at = FRAME_HEADER_BYTES;
  let start = 0;
  for (const r of records) {
    const data = dataOf(r);
    const body = bodyBytes(r);
    head.writeUInt8(frameTypeOf(r), at);
    head.writeUInt32BE(body, at + 1);
    // The record's header (its body minus the data) is written by writeBody into the head buffer.
    const hdrEnd = writeRecordHeader(r, head, at + 5);
    at = hdrEnd;
    if (data.length > 0) {
      pieces.push(head.subarray(start, at), data);
      start = at;
    }
  }
  if (start < at) pieces.push(head.subarray(start, at));
  const frameBytes = FRAME_HEADER_BYTES + rawBytes;
  if (frameBytes > MAX_FRAME_BYTES) throw new RangeError(`a frame of ${frameBytes} bytes is over the limit of ${MAX_FRAME_BYTES}`);
  head.writeUInt32BE(frameBytes, 0);
  head.writeUInt8(PROTOCOL_VERSION, 4);
  head.writeUInt8(frameTypeOf({ type: "batch", records: [] }), 5);
  head.writeUInt8(0, 6);
  head.writeUInt8(0, 7);
  let crc = crc32c(head.subarray(0, 8));
  for (let i = 0; i < pieces.length; i++) crc = crc32c(i === 0 ? pieces[0]!.subarray(FRAME_HEADER_BYTES) : pieces[i]!, crc);
  head.writeUInt32BE(crc, 8);
  return { pieces, frameBytes, rawBytes };
}

function dataOf(r: BatchFrame["records"][number]): Buffer {
  if (r.type === "write") return r.data;
  if (r.type === "sync-block" && r.data) return r.data;
  return EMPTY;
}

const EMPTY = Buffer.alloc(0);

/** Writes a record's body without its data (the data follows as its own piece). */
function writeRecordHeader(r: BatchFrame["records"][number], b: Buffer, at: number): number {
  const data = dataOf(r);
  if (data.length === 0) return writeBody(r, b, at);
  const stub = r.type === "write" ? { ...r, data: EMPTY } : { ...r, data: EMPTY };
  // A stub with empty data writes the same header; the length field is the real one.
  const end = writeBody(stub as typeof r, b, at);
  b.writeUInt32BE(data.length, at + 26);
  return end;
}

function seal(frame: Buffer, type: number, flags: number): Buffer {
  if (frame.length > MAX_FRAME_BYTES) throw new RangeError(`a frame of ${frame.length} bytes is over the limit of ${MAX_FRAME_BYTES}`);
  frame.writeUInt32BE(frame.length, 0);
  frame.writeUInt8(PROTOCOL_VERSION, 4);
  frame.writeUInt8(type, 5);
  frame.writeUInt8(flags, 6);
  frame.writeUInt8(0, 7);
  frame.writeUInt32BE(checksum(frame), 8);
  return frame;
}

function checksum(frame: Buffer): number {
  return crc32c(frame.subarray(FRAME_HEADER_BYTES), crc32c(frame.subarray(0, 8)));
}

/** Checks the length field of a frame header; returns the reason it is bad, or undefined. */
export function checkLength(length: number): string | undefined {
  if (length < FRAME_HEADER_BYTES) return `length ${length} is shorter than a frame header`;
  if (length > MAX_FRAME_BYTES) return `length ${length} is over the limit of ${MAX_FRAME_BYTES}`;
  return undefined;
}

/** Decodes one whole frame (exactly `frame.length` bytes). Throws FrameError with the reason. */
export function decodeFrame(frame: Buffer): Frame {
  if (frame.length < FRAME_HEADER_BYTES) throw new FrameError(`${frame.length} bytes is shorter than a frame header`);
  const length = frame.readUInt32BE(0);
  const bad = checkLength(length);
  if (bad) throw new FrameError(bad);
  if (length !== frame.length) throw new FrameError(`length field says ${length} bytes, frame has ${frame.length}`);
  const version = frame.readUInt8(4);
  if (version !== PROTOCOL_VERSION) throw new FrameError(`protocol version ${version}, this build speaks ${PROTOCOL_VERSION}`);
  const flags = frame.readUInt8(6);
  if ((flags & ~FLAG_LZ4) !== 0 || frame.readUInt8(7) !== 0) throw new FrameError(`unknown flags ${flags}`);
  const crc = frame.readUInt32BE(8);
  const type = frame.readUInt8(5);
  const body = frame.subarray(FRAME_HEADER_BYTES);
  if (flags & FLAG_LZ4) {
    if (checksum(frame) !== crc) throw new FrameError("crc32c mismatch");
    return readBody(type, inflate(body));
  }
  // Parsed first, checked before anything is handed on: the check then hashes
  // each write's data on its own, and the journal keeps that crc32c.
  let f: Frame;
  try {
    f = readBody(type, body);
  } catch (err) {
    if (checksum(frame) !== crc) throw new FrameError("crc32c mismatch");
    throw err;
  }
  if (checksumByRecord(frame, f) !== crc) throw new FrameError("crc32c mismatch");
  return f;
}

/**
 * The frame's checksum computed around each record's data, which learns its
 * own crc32c on the way (`dataCrc`): the bytes are read once. The data are
 * subarrays of `frame`, in order (readBody cuts them from it).
 */
function checksumByRecord(frame: Buffer, f: Frame): number {
  const records = f.type === "batch" ? f.records : [f];
  let crc = crc32c(frame.subarray(0, 8));
  let at = FRAME_HEADER_BYTES;
  for (const r of records) {
    if ((r.type !== "write" && r.type !== "sync-block") || !r.data || r.data.length === 0) continue;
    const data = r.data;
    const start = data.byteOffset - frame.byteOffset;
    if (data.buffer !== frame.buffer || start < at || start + data.length > frame.length) throw new Error("a record's data is not a slice of its frame");
    crc = crc32c(frame.subarray(at, start), crc);
    const own = crc32c(data);
    crc = crc32cCombine(crc, own, data.length);
    r.dataCrc = own;
    at = start + data.length;
  }
  return crc32c(frame.subarray(at), crc);
}

function inflate(packed: Buffer): Buffer {
  if (packed.length < 4) throw new FrameError("lz4 body without its size");
  const size = packed.readUInt32LE(0);
  if (size > MAX_FRAME_BYTES) throw new FrameError(`lz4 body would inflate to ${size} bytes`);
  let out: Buffer;
  try {
    out = uncompressSync(packed);
  } catch (err) {
    throw new FrameError("lz4 body does not decompress", { cause: err });
  }
  if (out.length !== size) throw new FrameError(`lz4 body inflated to ${out.length} bytes, expected ${size}`);
  return out;
}

/**
 * Cuts a byte stream into whole frames. `push` returns the frames completed
 * by a chunk, and throws FrameError as soon as a header is bad (so that a
 * stream of garbage is not buffered up to the frame limit).
 */
export class FrameReader {
  #chunks: Buffer[] = [];
  #bytes = 0;

  get bufferedBytes(): number {
    return this.#bytes;
  }

  push(chunk: Buffer): Buffer[] {
    this.#chunks.push(chunk);
    this.#bytes += chunk.length;
    const out: Buffer[] = [];
    for (;;) {
      if (this.#bytes < 8) return out;
      const head = this.#peek(8);
      const length = head.readUInt32BE(0);
      const bad = checkLength(length);
      if (bad) throw new FrameError(bad);
      if (head.readUInt8(4) !== PROTOCOL_VERSION) throw new FrameError(`protocol version ${head.readUInt8(4)}, this build speaks ${PROTOCOL_VERSION}`);
      if (this.#bytes < length) return out;
      out.push(this.#take(length));
    }
  }

  #peek(n: number): Buffer {
    const first = this.#chunks[0]!;
    if (first.length >= n) return first;
    return Buffer.concat(this.#chunks, Math.min(this.#bytes, Math.max(n, 8)));
  }

  #take(n: number): Buffer {
    const first = this.#chunks[0]!;
    let out: Buffer;
    if (first.length === n) {
      this.#chunks.shift();
      out = first;
    } else if (first.length > n) {
      out = first.subarray(0, n);
      this.#chunks[0] = first.subarray(n);
    } else {
      out = Buffer.allocUnsafe(n);
      let at = 0;
      while (at < n) {
        const c = this.#chunks[0]!;
        const take = Math.min(c.length, n - at);
        c.copy(out, at, 0, take);
        at += take;
        if (take === c.length) this.#chunks.shift();
        else this.#chunks[0] = c.subarray(take);
      }
    }
    this.#bytes -= n;
    return out;
  }
}
