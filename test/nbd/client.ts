/**
 * A tiny raw NBD client for tests: it speaks the protocol byte by byte, so a
 * test can send what real clients never do (options out of order, bad magic,
 * requests past the end, DISC with requests in flight) and read back exactly
 * what the server said. The encoders are written from doc/proto.md, not
 * borrowed from src/nbd, so the tests check the server against the spec.
 */
import net from "node:net";

export const NBDMAGIC = 0x4e42444d41474943n;
export const IHAVEOPT = 0x49484156454f5054n;
export const OPTION_REPLY_MAGIC = 0x3e889045565a9n;
export const REQUEST_MAGIC = 0x25609513;
export const SIMPLE_REPLY_MAGIC = 0x67446698;
export const STRUCTURED_REPLY_MAGIC = 0x668e33ef;

export const OPT = {
  EXPORT_NAME: 1,
  ABORT: 2,
  LIST: 3,
  STARTTLS: 5,
  INFO: 6,
  GO: 7,
  STRUCTURED_REPLY: 8,
  LIST_META_CONTEXT: 9,
  SET_META_CONTEXT: 10,
} as const;

export const REP = {
  ACK: 1,
  SERVER: 2,
  INFO: 3,
  META_CONTEXT: 4,
  ERR_UNSUP: 0x80000001,
  ERR_POLICY: 0x80000002,
  ERR_INVALID: 0x80000003,
  ERR_PLATFORM: 0x80000004,
  ERR_TLS_REQD: 0x80000005,
  ERR_UNKNOWN: 0x80000006,
  ERR_SHUTDOWN: 0x80000007,
  ERR_BLOCK_SIZE_REQD: 0x80000008,
  ERR_TOO_BIG: 0x80000009,
} as const;

export const INFO = { EXPORT: 0, NAME: 1, DESCRIPTION: 2, BLOCK_SIZE: 3 } as const;

export const TFLAG = {
  HAS_FLAGS: 1 << 0,
  READ_ONLY: 1 << 1,
  SEND_FLUSH: 1 << 2,
  SEND_FUA: 1 << 3,
  ROTATIONAL: 1 << 4,
  SEND_TRIM: 1 << 5,
  SEND_WRITE_ZEROES: 1 << 6,
  SEND_DF: 1 << 7,
  CAN_MULTI_CONN: 1 << 8,
  SEND_RESIZE: 1 << 9,
  SEND_CACHE: 1 << 10,
  SEND_FAST_ZERO: 1 << 11,
} as const;

export const CMD = {
  READ: 0,
  WRITE: 1,
  DISC: 2,
  FLUSH: 3,
  TRIM: 4,
  CACHE: 5,
  WRITE_ZEROES: 6,
  BLOCK_STATUS: 7,
} as const;

export const CMDFLAG = { FUA: 1, NO_HOLE: 2, DF: 4, REQ_ONE: 8, FAST_ZERO: 16 } as const;

export const CHUNK = { NONE: 0, OFFSET_DATA: 1, OFFSET_HOLE: 2, BLOCK_STATUS: 5, ERROR: 32769, ERROR_OFFSET: 32770 } as const;

export const E = { EPERM: 1, EIO: 5, ENOMEM: 12, EINVAL: 22, ENOSPC: 28, EOVERFLOW: 75, ENOTSUP: 95, ESHUTDOWN: 108 } as const;

export const CLIENT_FIXED_NEWSTYLE = 1;
export const CLIENT_NO_ZEROES = 2;

// ---------------------------------------------------------------- encoders

export function encodeOption(option: number, data: Buffer = Buffer.alloc(0), lengthField = data.length): Buffer {
  const b = Buffer.alloc(16 + data.length);
  b.writeBigUInt64BE(IHAVEOPT, 0);
  b.writeUInt32BE(option, 8);
  b.writeUInt32BE(lengthField, 12);
  data.copy(b, 16);
  return b;
}

export function clientFlags(flags = CLIENT_FIXED_NEWSTYLE | CLIENT_NO_ZEROES): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(flags, 0);
  return b;
}

/** The data of NBD_OPT_INFO / NBD_OPT_GO. */
export function infoData(name: string, infos: number[] = []): Buffer {
  const n = Buffer.from(name, "utf8");
  const b = Buffer.alloc(4 + n.length + 2 + 2 * infos.length);
  b.writeUInt32BE(n.length, 0);
  n.copy(b, 4);
  b.writeUInt16BE(infos.length, 4 + n.length);
  infos.forEach((info, i) => b.writeUInt16BE(info, 6 + n.length + 2 * i));
  return b;
}

/** The data of NBD_OPT_LIST_META_CONTEXT / NBD_OPT_SET_META_CONTEXT. */
export function metaData(name: string, queries: string[]): Buffer {
  const parts: Buffer[] = [];
  const n = Buffer.from(name, "utf8");
  const head = Buffer.alloc(4);
  head.writeUInt32BE(n.length, 0);
  parts.push(head, n);
  const count = Buffer.alloc(4);
  count.writeUInt32BE(queries.length, 0);
  parts.push(count);
  for (const q of queries) {
    const qb = Buffer.from(q, "utf8");
    const len = Buffer.alloc(4);
    len.writeUInt32BE(qb.length, 0);
    parts.push(len, qb);
  }
  return Buffer.concat(parts);
}

export interface RequestSpec {
  type: number;
  flags?: number;
  cookie?: bigint;
  offset?: bigint | number;
  length?: number;
  /** A WRITE's payload; its length is the request's length unless `length` says otherwise. */
  data?: Buffer;
  magic?: number;
}

export function encodeRequest(r: RequestSpec): Buffer {
  const payload = r.data ?? Buffer.alloc(0);
  const b = Buffer.alloc(28 + payload.length);
  b.writeUInt32BE(r.magic ?? REQUEST_MAGIC, 0);
  b.writeUInt16BE(r.flags ?? 0, 4);
  b.writeUInt16BE(r.type, 6);
  b.writeBigUInt64BE(r.cookie ?? 0n, 8);
  b.writeBigUInt64BE(BigInt(r.offset ?? 0), 16);
  b.writeUInt32BE(r.length ?? payload.length, 24);
  payload.copy(b, 28);
  return b;
}

// ---------------------------------------------------------------- replies

export interface OptionReply {
  option: number;
  type: number;
  data: Buffer;
}

export interface Chunk {
  flags: number;
  type: number;
  /** OFFSET_DATA / OFFSET_HOLE / ERROR_OFFSET */
  offset?: number;
  data?: Buffer;
  holeLength?: number;
  errno?: number;
  message?: string;
  contextId?: number;
  extents?: { length: number; flags: number }[];
}

export interface Reply {
  cookie: bigint;
  structured: boolean;
  /** The simple reply's error, or the first error chunk's, or 0. */
  errno: number;
  /** A simple READ reply's data. */
  data?: Buffer;
  chunks: Chunk[];
}

/** What the client must remember of a request to parse its reply. */
interface Pending {
  type: number;
  length: number;
  resolve: (reply: Reply) => void;
  reject: (err: Error) => void;
  chunks: Chunk[];
}

// ---------------------------------------------------------------- the client

export class RawClient {
  readonly socket: net.Socket;
  #chunks: Buffer[] = [];
  #length = 0;
  #ended = false;
  #error: Error | null = null;
  #waiter: (() => void) | null = null;
  readonly closed: Promise<void>;
  /** Transmission: requests awaiting their reply, by cookie. */
  readonly #pending = new Map<bigint, Pending>();
  #nextCookie = 1n;
  #pumping = false;
  /** Every reply seen, in arrival order (cookies), for tests of ordering. */
  readonly replyOrder: bigint[] = [];
  structured = false;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    this.closed = new Promise((resolve) => socket.on("close", () => resolve()));
    socket.on("data", (chunk: Buffer) => {
      this.#chunks.push(chunk);
      this.#length += chunk.length;
      this.#wake();
    });
    socket.on("end", () => {
      this.#ended = true;
      this.#wake();
    });
    socket.on("error", (err) => {
      this.#error = err;
      this.#ended = true;
      this.#wake();
    });
    socket.on("close", () => {
      this.#ended = true;
      this.#wake();
    });
  }

  static connect(port: number, host = "127.0.0.1"): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, host);
      socket.once("error", reject);
      socket.once("connect", () => {
        socket.off("error", reject);
        socket.setNoDelay(true);
        resolve(new RawClient(socket));
      });
    });
  }

  /** A client over bytes already received (no socket): to parse a server's output after the fact. */
  static fromBytes(bytes: Buffer): RawClient {
    const c = new RawClient(new net.Socket());
    c.#chunks.push(bytes);
    c.#length = bytes.length;
    c.#ended = true;
    return c;
  }

  /** Connects and reads the greeting, checking it. */
  static async open(port: number, host = "127.0.0.1"): Promise<RawClient> {
    const c = await RawClient.connect(port, host);
    const g = await c.read(18);
    if (g.readBigUInt64BE(0) !== NBDMAGIC || g.readBigUInt64BE(8) !== IHAVEOPT) throw new Error("bad greeting");
    return c;
  }

  /** Opens a connection and goes to transmission on `name` with NBD_OPT_GO. */
  static async session(
    port: number,
    name: string,
    options: { structured?: boolean; meta?: boolean; host?: string } = {},
  ): Promise<{ client: RawClient; size: number; flags: number }> {
    const c = await RawClient.open(port, options.host);
    c.write(clientFlags());
    if (options.structured || options.meta) {
      const r = await c.option(OPT.STRUCTURED_REPLY);
      if (r.at(-1)!.type !== REP.ACK) throw new Error("no structured replies");
      c.structured = true;
    }
    if (options.meta) {
      const r = await c.option(OPT.SET_META_CONTEXT, metaData(name, ["base:allocation"]));
      if (r.at(-1)!.type !== REP.ACK || r.length !== 2) throw new Error("no base:allocation");
    }
    const { size, flags } = await c.go(name);
    return { client: c, size, flags };
  }

  write(b: Buffer): void {
    this.socket.write(b);
  }

  /** The socket's error, if it had one (a reset, say). */
  get error(): Error | null {
    return this.#error;
  }

  get ended(): boolean {
    return this.#ended && this.#length === 0;
  }

  get bufferedBytes(): number {
    return this.#length;
  }

  /** Exactly n bytes; rejects if the connection ends first. */
  async read(n: number): Promise<Buffer> {
    while (this.#length < n) {
      if (this.#ended) throw new Error(`connection ended with ${this.#length} of ${n} bytes`);
      await new Promise<void>((resolve) => (this.#waiter = resolve));
    }
    return this.#take(n);
  }

  /** Everything until the server hangs up. */
  async readToEnd(): Promise<Buffer> {
    while (!this.#ended) await new Promise<void>((resolve) => (this.#waiter = resolve));
    return this.#take(this.#length);
  }

  /** Resolves once the server has hung up (after reading and dropping anything it sent). */
  async waitEnd(): Promise<Buffer> {
    return this.readToEnd();
  }

  close(): void {
    this.socket.destroy();
  }

  #take(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    const first = this.#chunks[0]!;
    let out: Buffer;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(n);
    } else {
      out = Buffer.allocUnsafe(n);
      let at = 0;
      while (at < n) {
        const c = this.#chunks[0]!;
        const k = Math.min(c.length, n - at);
        c.copy(out, at, 0, k);
        at += k;
        if (k === c.length) this.#chunks.shift();
        else this.#chunks[0] = c.subarray(k);
      }
    }
    this.#length -= n;
    return out;
  }

  #wake(): void {
    const w = this.#waiter;
    this.#waiter = null;
    w?.();
  }

  // ------------------------------------------------------------ handshake

  sendOption(option: number, data: Buffer = Buffer.alloc(0)): void {
    this.write(encodeOption(option, data));
  }

  async readOptionReply(): Promise<OptionReply> {
    const h = await this.read(20);
    const magic = h.readBigUInt64BE(0);
    if (magic !== OPTION_REPLY_MAGIC) throw new Error(`bad option reply magic 0x${magic.toString(16)}`);
    const option = h.readUInt32BE(8);
    const type = h.readUInt32BE(12);
    const length = h.readUInt32BE(16);
    const data = await this.read(length);
    return { option, type, data };
  }

  /** Replies to one option until its ACK or error (inclusive). */
  async readOptionReplies(option: number): Promise<OptionReply[]> {
    const replies: OptionReply[] = [];
    for (;;) {
      const r = await this.readOptionReply();
      if (r.option !== option) throw new Error(`reply for option ${r.option}, expected ${option}`);
      replies.push(r);
      if (r.type === REP.ACK || r.type >= 0x80000000) return replies;
    }
  }

  async option(option: number, data: Buffer = Buffer.alloc(0)): Promise<OptionReply[]> {
    this.sendOption(option, data);
    return this.readOptionReplies(option);
  }

  /** NBD_OPT_GO; throws with the error reply's text if refused. */
  async go(name: string, infos: number[] = []): Promise<{ size: number; flags: number; replies: OptionReply[] }> {
    const replies = await this.option(OPT.GO, infoData(name, infos));
    const last = replies.at(-1)!;
    if (last.type !== REP.ACK) throw new Error(`GO refused: 0x${last.type.toString(16)} ${last.data.toString()}`);
    const exp = replies.find((r) => r.type === REP.INFO && r.data.readUInt16BE(0) === INFO.EXPORT);
    if (!exp) throw new Error("GO without NBD_INFO_EXPORT");
    return { size: Number(exp.data.readBigUInt64BE(2)), flags: exp.data.readUInt16BE(10), replies };
  }

  // ------------------------------------------------------------ transmission

  /** Sends a request and returns its reply (requests may be many in flight). */
  request(spec: RequestSpec): Promise<Reply> {
    const cookie = spec.cookie ?? this.#nextCookie++;
    const length = spec.length ?? spec.data?.length ?? 0;
    const reply = this.expect(cookie, spec.type, length);
    this.write(encodeRequest({ ...spec, cookie, length }));
    return reply;
  }

  /** Registers a request sent by other means (raw bytes) so its reply is parsed. */
  expect(cookie: bigint, type: number, length: number): Promise<Reply> {
    if (this.#pending.has(cookie)) throw new Error(`cookie ${cookie} is already in flight`);
    const p = new Promise<Reply>((resolve, reject) => {
      this.#pending.set(cookie, { type, length, resolve, reject, chunks: [] });
    });
    void this.#pump();
    return p;
  }

  get inFlight(): number {
    return this.#pending.size;
  }

  readCmd(offset: number, length: number, flags = 0): Promise<Reply> {
    return this.request({ type: CMD.READ, offset, length, flags });
  }

  /** Reads a range and returns its bytes, assembling structured chunks; throws on error. */
  async readBytes(offset: number, length: number, flags = 0): Promise<Buffer> {
    const r = await this.readCmd(offset, length, flags);
    if (r.errno !== 0) throw new Error(`READ failed with errno ${r.errno}`);
    return assembleRead(r, offset, length);
  }

  async writeBytes(offset: number, data: Buffer, flags = 0): Promise<void> {
    const r = await this.request({ type: CMD.WRITE, offset, data, flags });
    if (r.errno !== 0) throw new Error(`WRITE failed with errno ${r.errno}`);
  }

  disconnect(): void {
    this.write(encodeRequest({ type: CMD.DISC, cookie: this.#nextCookie++ }));
  }

  async #pump(): Promise<void> {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      while (this.#pending.size > 0) {
        const h = await this.read(4);
        const magic = h.readUInt32BE(0);
        if (magic === SIMPLE_REPLY_MAGIC) {
          const rest = await this.read(12);
          const errno = rest.readUInt32BE(0);
          const cookie = rest.readBigUInt64BE(4);
          const p = this.#pendingFor(cookie);
          const reply: Reply = { cookie, structured: false, errno, chunks: [] };
          if (p.type === CMD.READ && errno === 0) reply.data = await this.read(p.length);
          this.#pending.delete(cookie);
          this.replyOrder.push(cookie);
          p.resolve(reply);
        } else if (magic === STRUCTURED_REPLY_MAGIC) {
          const rest = await this.read(16);
          const flags = rest.readUInt16BE(0);
          const type = rest.readUInt16BE(2);
          const cookie = rest.readBigUInt64BE(4);
          const length = rest.readUInt32BE(12);
          const p = this.#pendingFor(cookie);
          const payload = await this.read(length);
          p.chunks.push(parseChunk(flags, type, payload));
          if (flags & 1) {
            this.#pending.delete(cookie);
            this.replyOrder.push(cookie);
            const err = p.chunks.find((c) => c.errno !== undefined);
            p.resolve({ cookie, structured: true, errno: err?.errno ?? 0, chunks: p.chunks });
          }
        } else {
          throw new Error(`bad reply magic 0x${magic.toString(16)}`);
        }
      }
    } catch (err) {
      for (const p of this.#pending.values()) p.reject(err as Error);
      this.#pending.clear();
    } finally {
      this.#pumping = false;
    }
  }

  #pendingFor(cookie: bigint): Pending {
    const p = this.#pending.get(cookie);
    if (!p) throw new Error(`reply for unknown cookie ${cookie}`);
    return p;
  }
}

export function parseChunk(flags: number, type: number, payload: Buffer): Chunk {
  const c: Chunk = { flags, type };
  switch (type) {
    case CHUNK.NONE:
      if (payload.length !== 0) throw new Error("NONE chunk with a payload");
      break;
    case CHUNK.OFFSET_DATA:
      if (payload.length < 8) throw new Error("short OFFSET_DATA chunk");
      c.offset = Number(payload.readBigUInt64BE(0));
      c.data = payload.subarray(8);
      break;
    case CHUNK.OFFSET_HOLE:
      if (payload.length !== 12) throw new Error("OFFSET_HOLE chunk is not 12 bytes");
      c.offset = Number(payload.readBigUInt64BE(0));
      c.holeLength = payload.readUInt32BE(8);
      break;
    case CHUNK.BLOCK_STATUS:
      if (payload.length < 12 || (payload.length - 4) % 8 !== 0) throw new Error("bad BLOCK_STATUS chunk length");
      c.contextId = payload.readUInt32BE(0);
      c.extents = [];
      for (let at = 4; at < payload.length; at += 8) {
        c.extents.push({ length: payload.readUInt32BE(at), flags: payload.readUInt32BE(at + 4) });
      }
      break;
    case CHUNK.ERROR:
    case CHUNK.ERROR_OFFSET: {
      if (payload.length < 6) throw new Error("short error chunk");
      c.errno = payload.readUInt32BE(0);
      const mlen = payload.readUInt16BE(4);
      const want = 6 + mlen + (type === CHUNK.ERROR_OFFSET ? 8 : 0);
      if (payload.length !== want) throw new Error("error chunk length does not match its message");
      c.message = payload.toString("utf8", 6, 6 + mlen);
      if (type === CHUNK.ERROR_OFFSET) c.offset = Number(payload.readBigUInt64BE(6 + mlen));
      if (c.errno === 0) throw new Error("error chunk with errno 0");
      break;
    }
    default:
      throw new Error(`unknown chunk type ${type}`);
  }
  return c;
}

/**
 * The bytes of a successful READ reply, simple or structured. Structured
 * chunks must not overlap, must stay within the request, and must cover it
 * (a hole reads as zeroes).
 */
export function assembleRead(r: Reply, offset: number, length: number): Buffer {
  if (!r.structured) return r.data!;
  const out = Buffer.alloc(length);
  const spans: [number, number][] = [];
  for (const c of r.chunks) {
    if (c.type === CHUNK.NONE) continue;
    const len = c.type === CHUNK.OFFSET_DATA ? c.data!.length : c.type === CHUNK.OFFSET_HOLE ? c.holeLength! : -1;
    if (len < 0) throw new Error(`unexpected chunk type ${c.type} in a READ reply`);
    const at = c.offset! - offset;
    if (at < 0 || at + len > length || len === 0) throw new Error(`chunk ${c.offset}+${len} is outside the request ${offset}+${length}`);
    spans.push([at, at + len]);
    if (c.data) c.data.copy(out, at);
  }
  spans.sort((a, b) => a[0] - b[0]);
  let end = 0;
  for (const [from, to] of spans) {
    if (from !== end) throw new Error(from < end ? "overlapping chunks" : `READ reply leaves ${end}..${from} uncovered`);
    end = to;
  }
  if (end !== length) throw new Error(`READ reply leaves ${end}..${length} uncovered`);
  return out;
}

/** Bytes derived from a seed, so that every write is distinguishable. */
export function pattern(length: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(length);
  let x = (seed * 2654435761 + 1) >>> 0;
  for (let i = 0; i < length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}
