/**
 * The handshake's input, parsed without a socket: first the client's 32-bit
 * flags, then options (IHAVEOPT, option, length, data). Memory is bounded: an
 * option whose data is longer than `maxOptionBytes` is skipped byte by byte as
 * it arrives and reported as too big, never buffered.
 *
 * The reader yields one item at a time (`take`), because what follows an
 * option depends on how it was answered: after a successful GO the rest of the
 * bytes are transmission requests, which `rest()` hands over.
 */
import { NbdProtocolError } from "./errors.js";
import { IHAVEOPT, OPTION_HEADER_BYTES } from "./protocol.js";

export type HandshakeItem =
  | { kind: "client-flags"; flags: number }
  | { kind: "option"; option: number; data: Buffer }
  | { kind: "option-too-big"; option: number; length: number };

export class OptionReader {
  readonly #maxOptionBytes: number;
  #buffer: Buffer = Buffer.alloc(0);
  #gotFlags = false;
  /** While skipping an oversized option: its code and the bytes still to drop. */
  #skip: { option: number; length: number; left: number } | null = null;

  constructor(maxOptionBytes: number) {
    this.#maxOptionBytes = maxOptionBytes;
  }

  feed(chunk: Buffer): void {
    if (this.#skip) {
      const dropped = Math.min(this.#skip.left, chunk.length);
      this.#skip.left -= dropped;
      chunk = chunk.subarray(dropped);
      if (chunk.length === 0) return;
    }
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
  }

  /** Bytes held, so the caller can bound what it buffers. */
  get bufferedBytes(): number {
    return this.#buffer.length;
  }

  take(): HandshakeItem | null {
    if (!this.#gotFlags) {
      if (this.#buffer.length < 4) return null;
      this.#gotFlags = true;
      const flags = this.#buffer.readUInt32BE(0);
      this.#buffer = this.#buffer.subarray(4);
      return { kind: "client-flags", flags };
    }
    if (this.#skip) {
      if (this.#skip.left > 0) {
        const dropped = Math.min(this.#skip.left, this.#buffer.length);
        this.#skip.left -= dropped;
        this.#buffer = this.#buffer.subarray(dropped);
        if (this.#skip.left > 0) return null;
      }
      const { option, length } = this.#skip;
      this.#skip = null;
      return { kind: "option-too-big", option, length };
    }
    if (this.#buffer.length < OPTION_HEADER_BYTES) return null;
    const magic = this.#buffer.readBigUInt64BE(0);
    if (magic !== IHAVEOPT) {
      throw new NbdProtocolError(`bad option magic 0x${magic.toString(16)} (expected IHAVEOPT)`);
    }
    const option = this.#buffer.readUInt32BE(8);
    const length = this.#buffer.readUInt32BE(12);
    if (length > this.#maxOptionBytes) {
      this.#buffer = this.#buffer.subarray(OPTION_HEADER_BYTES);
      this.#skip = { option, length, left: length };
      return this.take();
    }
    if (this.#buffer.length < OPTION_HEADER_BYTES + length) return null;
    const data = Buffer.from(this.#buffer.subarray(OPTION_HEADER_BYTES, OPTION_HEADER_BYTES + length));
    this.#buffer = this.#buffer.subarray(OPTION_HEADER_BYTES + length);
    return { kind: "option", option, data };
  }

  /** What follows the handshake: the first bytes of the transmission phase. */
  rest(): Buffer {
    const rest = this.#buffer;
    this.#buffer = Buffer.alloc(0);
    return rest;
  }
}
