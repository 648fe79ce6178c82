/**
 * Reply headers of the transmission phase, as pure functions. Payloads are
 * written after them by the caller (so a READ's data is never copied into a
 * reply buffer: it is read there in the first place).
 */
import { ReplyType, SIMPLE_REPLY_BYTES, SIMPLE_REPLY_MAGIC, STRUCTURED_HEADER_BYTES, STRUCTURED_REPLY_MAGIC } from "./protocol.js";

export function writeSimpleReply(b: Buffer, at: number, cookieHi: number, cookieLo: number, errno: number): void {
  b.writeUInt32BE(SIMPLE_REPLY_MAGIC, at);
  b.writeUInt32BE(errno, at + 4);
  b.writeUInt32BE(cookieHi, at + 8);
  b.writeUInt32BE(cookieLo, at + 12);
}

export function simpleReply(cookieHi: number, cookieLo: number, errno: number): Buffer {
  const b = Buffer.allocUnsafe(SIMPLE_REPLY_BYTES);
  writeSimpleReply(b, 0, cookieHi, cookieLo, errno);
  return b;
}

export function writeChunkHeader(
  b: Buffer,
  at: number,
  flags: number,
  type: number,
  cookieHi: number,
  cookieLo: number,
  length: number,
): void {
  b.writeUInt32BE(STRUCTURED_REPLY_MAGIC, at);
  b.writeUInt16BE(flags, at + 4);
  b.writeUInt16BE(type, at + 6);
  b.writeUInt32BE(cookieHi, at + 8);
  b.writeUInt32BE(cookieLo, at + 12);
  b.writeUInt32BE(length, at + 16);
}

/** Bytes before the data of an OFFSET_DATA chunk. */
export const OFFSET_DATA_HEADER_BYTES = STRUCTURED_HEADER_BYTES + 8;

export function writeOffsetDataHeader(b: Buffer, at: number, flags: number, cookieHi: number, cookieLo: number, offset: number, dataBytes: number): void {
  writeChunkHeader(b, at, flags, ReplyType.OFFSET_DATA, cookieHi, cookieLo, 8 + dataBytes);
  writeU64(b, at + STRUCTURED_HEADER_BYTES, offset);
}

export function offsetHoleChunk(flags: number, cookieHi: number, cookieLo: number, offset: number, length: number): Buffer {
  const b = Buffer.allocUnsafe(STRUCTURED_HEADER_BYTES + 12);
  writeChunkHeader(b, 0, flags, ReplyType.OFFSET_HOLE, cookieHi, cookieLo, 12);
  writeU64(b, STRUCTURED_HEADER_BYTES, offset);
  b.writeUInt32BE(length, STRUCTURED_HEADER_BYTES + 8);
  return b;
}

export function noneChunk(flags: number, cookieHi: number, cookieLo: number): Buffer {
  const b = Buffer.allocUnsafe(STRUCTURED_HEADER_BYTES);
  writeChunkHeader(b, 0, flags, ReplyType.NONE, cookieHi, cookieLo, 0);
  return b;
}

export function errorChunk(flags: number, cookieHi: number, cookieLo: number, errno: number, message: string): Buffer {
  const m = Buffer.from(message.slice(0, 4096), "utf8");
  const b = Buffer.allocUnsafe(STRUCTURED_HEADER_BYTES + 6 + m.length);
  writeChunkHeader(b, 0, flags, ReplyType.ERROR, cookieHi, cookieLo, 6 + m.length);
  b.writeUInt32BE(errno, STRUCTURED_HEADER_BYTES);
  b.writeUInt16BE(m.length, STRUCTURED_HEADER_BYTES + 4);
  m.copy(b, STRUCTURED_HEADER_BYTES + 6);
  return b;
}

/** A BLOCK_STATUS chunk: the context id, then (length, flags) per extent. */
export function blockStatusChunk(
  flags: number,
  cookieHi: number,
  cookieLo: number,
  contextId: number,
  extents: ReadonlyArray<{ length: number; flags: number }>,
): Buffer {
  const b = Buffer.allocUnsafe(STRUCTURED_HEADER_BYTES + 4 + 8 * extents.length);
  writeChunkHeader(b, 0, flags, ReplyType.BLOCK_STATUS, cookieHi, cookieLo, 4 + 8 * extents.length);
  b.writeUInt32BE(contextId, STRUCTURED_HEADER_BYTES);
  let at = STRUCTURED_HEADER_BYTES + 4;
  for (const e of extents) {
    b.writeUInt32BE(e.length, at);
    b.writeUInt32BE(e.flags, at + 4);
    at += 8;
  }
  return b;
}

function writeU64(b: Buffer, at: number, value: number): void {
  b.writeUInt32BE(Math.floor(value / 4294967296), at);
  b.writeUInt32BE(value >>> 0, at + 4);
}
