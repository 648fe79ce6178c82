/**
 * The handshake's output and the parsing of options' data, as pure functions
 * over buffers.
 */
import { NbdProtocolError } from "./errors.js";
import {
  FLAG_FIXED_NEWSTYLE,
  FLAG_NO_ZEROES,
  IHAVEOPT,
  Info,
  MAX_BLOCK_BYTES,
  MIN_BLOCK_BYTES,
  NBDMAGIC,
  OPTION_REPLY_MAGIC,
  PREFERRED_BLOCK_BYTES,
} from "./protocol.js";

export function greeting(): Buffer {
  const b = Buffer.alloc(18);
  b.writeBigUInt64BE(NBDMAGIC, 0);
  b.writeBigUInt64BE(IHAVEOPT, 8);
  b.writeUInt16BE(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES, 16);
  return b;
}

export function optionReply(option: number, type: number, data: Buffer = Buffer.alloc(0)): Buffer {
  const b = Buffer.alloc(20 + data.length);
  b.writeBigUInt64BE(OPTION_REPLY_MAGIC, 0);
  b.writeUInt32BE(option, 8);
  b.writeUInt32BE(type, 12);
  b.writeUInt32BE(data.length, 16);
  data.copy(b, 20);
  return b;
}

/** An error reply's data is a message for humans. */
export function optionError(option: number, type: number, message: string): Buffer {
  return optionReply(option, type, Buffer.from(message, "utf8"));
}

/** The reply to NBD_OPT_EXPORT_NAME: size, flags, and 124 zero bytes unless NO_ZEROES. */
export function exportNameReply(sizeBytes: number, transmissionFlags: number, noZeroes: boolean): Buffer {
  const b = Buffer.alloc(10 + (noZeroes ? 0 : 124));
  b.writeBigUInt64BE(BigInt(sizeBytes), 0);
  b.writeUInt16BE(transmissionFlags, 8);
  return b;
}

export function infoExport(sizeBytes: number, transmissionFlags: number): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt16BE(Info.EXPORT, 0);
  b.writeBigUInt64BE(BigInt(sizeBytes), 2);
  b.writeUInt16BE(transmissionFlags, 10);
  return b;
}

export function infoString(type: typeof Info.NAME | typeof Info.DESCRIPTION, text: string): Buffer {
  const s = Buffer.from(text, "utf8");
  const b = Buffer.alloc(2 + s.length);
  b.writeUInt16BE(type, 0);
  s.copy(b, 2);
  return b;
}

export function infoBlockSize(): Buffer {
  const b = Buffer.alloc(14);
  b.writeUInt16BE(Info.BLOCK_SIZE, 0);
  b.writeUInt32BE(MIN_BLOCK_BYTES, 2);
  b.writeUInt32BE(PREFERRED_BLOCK_BYTES, 6);
  b.writeUInt32BE(MAX_BLOCK_BYTES, 10);
  return b;
}

/** An NBD_REP_SERVER entry of NBD_OPT_LIST. */
export function serverEntry(name: string, description: string | undefined): Buffer {
  const n = Buffer.from(name, "utf8");
  const d = Buffer.from(description ?? "", "utf8");
  const b = Buffer.alloc(4 + n.length + d.length);
  b.writeUInt32BE(n.length, 0);
  n.copy(b, 4);
  d.copy(b, 4 + n.length);
  return b;
}

export function metaContextEntry(id: number, name: string): Buffer {
  const n = Buffer.from(name, "utf8");
  const b = Buffer.alloc(4 + n.length);
  b.writeUInt32BE(id, 0);
  n.copy(b, 4);
  return b;
}

/** A field of an option's data that does not fit is the client's error, reported as ERR_INVALID. */
export class OptionDataError extends NbdProtocolError {}

class Cursor {
  #at = 0;
  constructor(readonly data: Buffer) {}
  u16(): number {
    this.#need(2);
    const v = this.data.readUInt16BE(this.#at);
    this.#at += 2;
    return v;
  }
  u32(): number {
    this.#need(4);
    const v = this.data.readUInt32BE(this.#at);
    this.#at += 4;
    return v;
  }
  string(length: number): string {
    this.#need(length);
    const s = this.data.toString("utf8", this.#at, this.#at + length);
    this.#at += length;
    return s;
  }
  end(): void {
    if (this.#at !== this.data.length) throw new OptionDataError(`${this.data.length - this.#at} stray bytes at the end`);
  }
  #need(n: number): void {
    if (this.#at + n > this.data.length) throw new OptionDataError("data ends too early");
  }
}

/** NBD_OPT_INFO and NBD_OPT_GO: export name and the information requested. */
export function parseInfoRequest(data: Buffer): { name: string; requests: number[] } {
  const c = new Cursor(data);
  const name = c.string(c.u32());
  const count = c.u16();
  const requests: number[] = [];
  for (let i = 0; i < count; i++) requests.push(c.u16());
  c.end();
  return { name, requests };
}

/** NBD_OPT_LIST_META_CONTEXT and NBD_OPT_SET_META_CONTEXT: export name and queries. */
export function parseMetaContextRequest(data: Buffer): { name: string; queries: string[] } {
  const c = new Cursor(data);
  const name = c.string(c.u32());
  const count = c.u32();
  const queries: string[] = [];
  for (let i = 0; i < count; i++) queries.push(c.string(c.u32()));
  c.end();
  return { name, queries };
}
