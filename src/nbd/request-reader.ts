/**
 * The transmission phase's input, parsed without a socket: 28-byte requests,
 * each WRITE followed by its data. Nothing is validated here beyond framing
 * (magic, and a WRITE's length, which decides how many bytes to read): ranges
 * and flags are the server's business.
 *
 * This is the hot path, and it is built to copy a WRITE's data at most once:
 * - when the caller owns each chunk it feeds (`reusesChunks` false), data that
 *   lies within one chunk is handed on as a view of it;
 * - otherwise data goes into a pool buffer, and `nextReadBuffer` tells the
 *   socket to read the rest of it straight there (the kernel's copy is then
 *   the only one: this is what brought 1 MiB writes near nbdkit's speed).
 */
import { BufferPool } from "./buffer-pool.js";
import { NbdProtocolError } from "./errors.js";
import { Cmd, CMD_NAMES, MAX_BLOCK_BYTES, REQUEST_BYTES, REQUEST_MAGIC } from "./protocol.js";

export interface NbdRequest {
  flags: number;
  type: number;
  /** The client's cookie (handle), as the two halves it is echoed back with. */
  cookieHi: number;
  cookieLo: number;
  /** May exceed 2^53 only for nonsense offsets, which then fail range checks. */
  offset: number;
  length: number;
  /** A WRITE's data; valid until the request's reply has been sent. */
  data: Buffer | null;
  /** The pool buffer behind `data`, to give back when the request is done. */
  pooled: Buffer | null;
  /**
   * How much of a WRITE's data was taken straight from the socket by the
   * device (see `receive`), and when it is written; `data` holds only the rest.
   */
  received: number;
  landed: Promise<void> | null;
}

/** WRITEs at least this long may have their data taken straight from the socket. */
export const DIRECT_WRITE_MIN_BYTES = 256 * 1024;

export class RequestReader {
  readonly #onRequest: (request: NbdRequest) => void;
  readonly #pool: BufferPool;
  readonly #reusesChunks: boolean;
  readonly #header = Buffer.alloc(REQUEST_BYTES);
  #headerBytes = 0;
  /** The WRITE whose data is being gathered, and how much of it has arrived. */
  #pending: NbdRequest | null = null;
  #pendingBytes = 0;
  #paused = false;
  /** Unparsed bytes kept while paused. */
  #held: Buffer | null = null;
  /**
   * Lets the device take a WRITE's data straight from the socket, when none
   * of it has been read yet. "taken": all of it (`received` and `landed` are
   * set); "waiting": the rest has not arrived, and the caller calls
   * `received` once it is taken; "no": read it as usual. It is asked of big
   * WRITEs only, and, after one, the next read is of a header alone, so that
   * the next WRITE's data is still in the socket.
   */
  receive: ((request: NbdRequest) => "taken" | "waiting" | "no") | null = null;
  /** The WRITE whose data the device is waiting for; nothing is parsed meanwhile. */
  #receiving: NbdRequest | null = null;
  /** The last request was a big WRITE: read the next header alone. */
  #headerAlone = false;

  constructor(onRequest: (request: NbdRequest) => void, options: { pool?: BufferPool; reusesChunks?: boolean } = {}) {
    this.#pool = options.pool ?? new BufferPool(0);
    this.#reusesChunks = options.reusesChunks ?? false;
    this.#onRequest = onRequest;
  }

  /**
   * Stops handing on requests, mid-chunk if need be (the connection calls this
   * when its in-flight bounds are reached). Bytes not yet parsed are kept, and
   * copied when the chunk they are in is about to be reused.
   */
  pause(): void {
    this.#paused = true;
  }

  /** Parses what was held back; it may pause again. */
  resume(): void {
    this.#paused = false;
    const held = this.#held;
    this.#held = null;
    if (held) this.feed(held);
  }

  get paused(): boolean {
    return this.#paused;
  }

  feed(chunk: Buffer): void {
    if (this.#held) {
      // Only while paused; the socket is paused too, but a chunk may still be in flight.
      this.#held = Buffer.concat([this.#held, chunk]);
      return;
    }
    let at = 0;
    const end = chunk.length;
    while (at < end) {
      if (this.#paused || this.#receiving) {
        this.#held = Buffer.from(chunk.subarray(at));
        return;
      }
      if (this.#pending) {
        at = this.#gather(chunk, at);
        continue;
      }
      if (this.#headerBytes === 0 && end - at >= REQUEST_BYTES) {
        at = this.#request(chunk, at, chunk, end);
        continue;
      }
      const n = Math.min(REQUEST_BYTES - this.#headerBytes, end - at);
      chunk.copy(this.#header, this.#headerBytes, at, at + n);
      this.#headerBytes += n;
      at += n;
      if (this.#headerBytes === REQUEST_BYTES) {
        this.#headerBytes = 0;
        at = this.#request(this.#header, 0, chunk, at);
      }
    }
  }

  /**
   * Where the socket should read next: the rest of a WRITE's data, in place,
   * when one is being gathered; else `staging`.
   */
  nextReadBuffer(staging: Buffer): Buffer {
    const request = this.#pending;
    if (this.#held) return staging;
    if (!request) return this.#headerAlone && this.#headerBytes === 0 ? staging.subarray(0, REQUEST_BYTES) : staging;
    return request.data!.subarray(this.#pendingBytes);
  }

  /** The device has taken what it could of the WRITE it was waiting for (`received`, `landed`); the rest is read as usual. */
  received(): void {
    const request = this.#receiving!;
    this.#receiving = null;
    if (request.received >= request.length) this.#onRequest(request);
    else {
      const rest = request.length - request.received;
      request.pooled = this.#pool.acquire(rest);
      request.data = request.pooled.subarray(0, rest);
      this.#pending = request;
      this.#pendingBytes = 0;
    }
    if (this.#held && !this.#paused) this.resume();
  }

  /** Whether a request is half read (the connection may only end cleanly between requests). */
  get midRequest(): boolean {
    return this.#headerBytes > 0 || this.#pending !== null || this.#receiving !== null;
  }

  /**
   * Parses the header at `buf[pos]`; a WRITE's data starts at `dataChunk[dataAt]`
   * (the same buffer, or the chunk after a staged header). Returns the position
   * in `dataChunk` after the header and whatever of the data it consumed.
   */
  #request(buf: Buffer, pos: number, dataChunk: Buffer, dataAt: number): number {
    const magic = buf.readUInt32BE(pos);
    if (magic !== REQUEST_MAGIC) {
      throw new NbdProtocolError(`bad request magic 0x${magic.toString(16).padStart(8, "0")}`);
    }
    const request: NbdRequest = {
      flags: buf.readUInt16BE(pos + 4),
      type: buf.readUInt16BE(pos + 6),
      cookieHi: buf.readUInt32BE(pos + 8),
      cookieLo: buf.readUInt32BE(pos + 12),
      offset: buf.readUInt32BE(pos + 16) * 4294967296 + buf.readUInt32BE(pos + 20),
      length: buf.readUInt32BE(pos + 24),
      data: null,
      pooled: null,
      received: 0,
      landed: null,
    };
    const headerEnd = buf === dataChunk ? pos + REQUEST_BYTES : dataAt;
    this.#headerAlone = request.type === Cmd.WRITE && request.length >= DIRECT_WRITE_MIN_BYTES && this.receive !== null;
    if (request.type !== Cmd.WRITE || request.length === 0) {
      this.#onRequest(request);
      return headerEnd;
    }
    if (request.length > MAX_BLOCK_BYTES) {
      throw new NbdProtocolError(
        `${CMD_NAMES[request.type]} of ${request.length} bytes is over the ${MAX_BLOCK_BYTES}-byte limit`,
      );
    }
    const available = dataChunk.length - headerEnd;
    if (available === 0 && this.#headerAlone) {
      const how = this.receive!(request);
      if (how === "taken") {
        this.#onRequest(request);
        return headerEnd;
      }
      if (how === "waiting") {
        this.#receiving = request;
        return headerEnd;
      }
    }
    if (available >= request.length && !this.#reusesChunks) {
      request.data = dataChunk.subarray(headerEnd, headerEnd + request.length);
      this.#onRequest(request);
      return headerEnd + request.length;
    }
    const rest = request.length - request.received;
    request.pooled = this.#pool.acquire(rest);
    request.data = request.pooled.subarray(0, rest);
    const n = Math.min(available, rest);
    dataChunk.copy(request.data, 0, headerEnd, headerEnd + n);
    if (n === rest) {
      this.#onRequest(request);
      return headerEnd + n;
    }
    this.#pending = request;
    this.#pendingBytes = n;
    return dataChunk.length;
  }

  #gather(chunk: Buffer, at: number): number {
    const request = this.#pending!;
    const data = request.data!;
    const n = Math.min(data.length - this.#pendingBytes, chunk.length - at);
    // Read in place (see nextReadBuffer): the bytes are already where they belong.
    const inPlace = chunk.buffer === data.buffer && chunk.byteOffset + at === data.byteOffset + this.#pendingBytes;
    if (!inPlace) chunk.copy(data, this.#pendingBytes, at, at + n);
    this.#pendingBytes += n;
    if (this.#pendingBytes === data.length) {
      this.#pending = null;
      this.#onRequest(request);
    }
    return at + n;
  }
}
