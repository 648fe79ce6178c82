/**
 * Random and mutated NBD sessions thrown at one in-process server (fast-check,
 * fixed seed; a failure prints its seed and path to replay it).
 *
 * Each case sends a session's bytes in random pieces, half-closes, and reads
 * all that comes back. Then:
 * - everything the server sent is parsed as protocol, against a reference
 *   reading of what was sent (written here, not borrowed from src/nbd): the
 *   greeting, one reply group per option with the expected outcome, the
 *   export's size and flags, a reply per request with a well-formed header,
 *   the error the request deserves (or none), READ data that matches the disk
 *   when nothing wrote there, sane structured chunks;
 * - no device call ever went out of range, the disk holds exactly what the
 *   accepted writes put there (no byte changed anywhere else), and the
 *   read-only export is unchanged;
 * - nothing was logged at error level (an internal error, not a client's);
 * - the connection is gone (nothing leaks), and a well-behaved client, on a
 *   connection kept open throughout and on a fresh one, is served correctly.
 * The server must not crash: it runs in this process.
 */
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { NbdServer, StaticExports, type Logger } from "../../src/nbd/index.js";
import { DEFAULT_LIMITS } from "../../src/nbd/connection.js";
import { MemoryDevice, type BlockDevice, type Extent, type ZeroOptions } from "../../src/blockdev/index.js";
import {
  CHUNK,
  CMD,
  CMDFLAG,
  E,
  IHAVEOPT,
  INFO,
  NBDMAGIC,
  OPT,
  OPTION_REPLY_MAGIC,
  REP,
  REQUEST_MAGIC,
  RawClient,
  SIMPLE_REPLY_MAGIC,
  STRUCTURED_REPLY_MAGIC,
  TFLAG,
  assembleRead,
  clientFlags,
  encodeOption,
  encodeRequest,
  infoData,
  metaData,
  parseChunk,
  type Chunk,
  pattern,
} from "./client.js";

const KiB = 1024;
const MiB = 1024 * KiB;
const MAX_OPTION_BYTES = DEFAULT_LIMITS.maxOptionBytes;
const MAX_REQUEST_BYTES = 32 * MiB;
const FUZZ_SIZE = 256 * KiB;
const RO_SIZE = 64 * KiB;
/** FUZZ_SEED and FUZZ_SCALE (a multiplier of the case counts) run it longer on demand: FUZZ_SCALE=100 npm test. */
const SEED = Number(process.env.FUZZ_SEED ?? 42);
const SCALE = Number(process.env.FUZZ_SCALE ?? 1);
const runs = (n: number) => Math.max(1, Math.round(n * SCALE));

// ---------------------------------------------------------------- the disks

/** A MemoryDevice that records any call out of its range. */
class GuardedDevice implements BlockDevice {
  readonly inner: MemoryDevice;
  readonly violations: string[] = [];
  readonly #readOnly: boolean;
  constructor(size: number, readOnly = false) {
    this.inner = new MemoryDevice(size);
    this.#readOnly = readOnly;
  }
  get size(): number {
    return this.inner.size;
  }
  get readOnly(): boolean {
    return this.#readOnly;
  }
  #check(kind: string, offset: number, length: number): void {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.size) {
      this.violations.push(`${kind} at ${offset}+${length} on a ${this.size}-byte device`);
      throw new Error("out of range");
    }
    if (this.#readOnly && kind !== "read" && kind !== "extents") this.violations.push(`${kind} on a read-only device`);
  }
  read(offset: number, length: number): Promise<Buffer> {
    this.#check("read", offset, length);
    return this.inner.read(offset, length);
  }
  write(offset: number, data: Buffer, fua?: boolean): Promise<void> {
    this.#check("write", offset, data.length);
    void fua;
    return this.inner.write(offset, data);
  }
  writeZeroes(offset: number, length: number, options?: ZeroOptions): Promise<void> {
    this.#check("writeZeroes", offset, length);
    return this.inner.writeZeroes(offset, length, options);
  }
  trim(offset: number, length: number): Promise<void> {
    this.#check("trim", offset, length);
    return this.inner.trim(offset, length);
  }
  flush(): Promise<void> {
    return this.inner.flush();
  }
  extents(offset: number, length: number): Promise<Extent[]> {
    this.#check("extents", offset, length);
    return this.inner.extents(offset, length);
  }
  async close(): Promise<void> {}
}


interface ExportModel {
  name: string;
  size: number;
  readOnly: boolean;
}
const EXPORTS: ExportModel[] = [
  { name: "fuzz", size: FUZZ_SIZE, readOnly: false },
  { name: "ro", size: RO_SIZE, readOnly: true },
];
function lookup(name: string): ExportModel | undefined {
  return name === "" ? EXPORTS[0] : EXPORTS.find((e) => e.name === name);
}

// ---------------------------------------------------------------- sessions

type Option =
  | { k: "list"; bad: boolean }
  | { k: "info" | "go"; name: string; infos: number[] }
  | { k: "structured" }
  | { k: "listMeta" | "setMeta"; name: string; queries: string[] }
  | { k: "unknown"; code: number; data: Uint8Array }
  | { k: "abort" }
  | { k: "exportName"; name: string };

interface Req {
  type: number;
  flags: number;
  offset: bigint;
  length: number;
  cookie: bigint;
  seed: number;
}

interface Session {
  flags: number;
  options: Option[];
  end: Option | null;
  requests: Req[];
  disc: boolean;
}

const nameArb = fc.constantFrom("fuzz", "fuzz", "ro", "", "nope", "fuzz\u0000", "Fuzz");
const optionArb: fc.Arbitrary<Option> = fc.oneof(
  fc.record({ k: fc.constant("list" as const), bad: fc.constantFrom(false, false, false, false, true) }),
  fc.record({ k: fc.constant("info" as const), name: nameArb, infos: fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 4 }) }),
  fc.record({ k: fc.constant("structured" as const) }),
  fc.record({
    k: fc.constantFrom("listMeta" as const, "setMeta" as const),
    name: nameArb,
    queries: fc.array(fc.constantFrom("base:allocation", "base:", "qemu:dirty-bitmap:x", "", "base:allocation "), { maxLength: 3 }),
  }),
  fc.record({
    k: fc.constant("unknown" as const),
    code: fc.oneof(fc.constantFrom(0, 4, OPT.STARTTLS, 11, 12, 0x80000000), fc.integer({ min: 0, max: 0xffffffff })),
    data: fc.uint8Array({ maxLength: 24 }),
  }),
);
const endArb: fc.Arbitrary<Option | null> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ k: fc.constant("go" as const), name: nameArb, infos: fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 3 }) }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant("exportName" as const), name: nameArb }) },
  { weight: 1, arbitrary: fc.constant({ k: "abort" as const }) },
  { weight: 1, arbitrary: fc.constant(null) },
);
const reqArb: fc.Arbitrary<Req> = fc.record({
  type: fc.oneof(
    { weight: 12, arbitrary: fc.constantFrom(CMD.READ, CMD.READ, CMD.WRITE, CMD.WRITE, CMD.FLUSH, CMD.TRIM, CMD.CACHE, CMD.WRITE_ZEROES, CMD.BLOCK_STATUS) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }) },
  ),
  flags: fc.oneof(
    { weight: 8, arbitrary: fc.constant(0) },
    { weight: 4, arbitrary: fc.constantFrom(1, 2, 4, 8, 16, 3, 17, 19) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }) },
  ),
  offset: fc.oneof(
    { weight: 10, arbitrary: fc.bigInt({ min: 0n, max: BigInt(FUZZ_SIZE) }) },
    { weight: 2, arbitrary: fc.constantFrom(BigInt(FUZZ_SIZE - 1), BigInt(FUZZ_SIZE), BigInt(RO_SIZE), 2n ** 32n, 2n ** 53n + 1n, 2n ** 63n, 2n ** 64n - 1n) },
  ),
  length: fc.oneof(
    { weight: 10, arbitrary: fc.integer({ min: 1, max: 2048 }) },
    { weight: 2, arbitrary: fc.integer({ min: 1, max: FUZZ_SIZE }) },
    { weight: 2, arbitrary: fc.constantFrom(0, 1, 4096, 2 ** 31, 2 ** 32 - 1, MAX_REQUEST_BYTES, MAX_REQUEST_BYTES + 1) },
  ),
  cookie: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
  seed: fc.integer({ min: 0, max: 1 << 30 }),
});
const sessionArb: fc.Arbitrary<Session> = fc.record({
  flags: fc.constantFrom(3, 3, 3, 1),
  options: fc.array(optionArb, { maxLength: 5 }),
  end: endArb,
  requests: fc.array(reqArb, { maxLength: 10 }),
  disc: fc.boolean(),
});

function encodeOpt(o: Option): Buffer {
  switch (o.k) {
    case "list":
      return encodeOption(OPT.LIST, o.bad ? Buffer.from("x") : Buffer.alloc(0));
    case "info":
      return encodeOption(OPT.INFO, infoData(o.name, o.infos));
    case "go":
      return encodeOption(OPT.GO, infoData(o.name, o.infos));
    case "structured":
      return encodeOption(OPT.STRUCTURED_REPLY);
    case "listMeta":
      return encodeOption(OPT.LIST_META_CONTEXT, metaData(o.name, o.queries));
    case "setMeta":
      return encodeOption(OPT.SET_META_CONTEXT, metaData(o.name, o.queries));
    case "unknown":
      return encodeOption(o.code, Buffer.from(o.data));
    case "abort":
      return encodeOption(OPT.ABORT);
    case "exportName":
      return encodeOption(OPT.EXPORT_NAME, Buffer.from(o.name));
  }
}

function encodeSession(s: Session): Buffer {
  const parts = [clientFlags(s.flags), ...s.options.map(encodeOpt)];
  if (s.end) parts.push(encodeOpt(s.end));
  for (const r of s.requests) {
    // WRITEs carry their data (a WRITE too long to send is left to the mutations).
    const isWrite = r.type === CMD.WRITE;
    const length = isWrite ? Math.min(r.length, 4096) : r.length;
    parts.push(encodeRequest({ type: r.type, flags: r.flags, cookie: r.cookie, offset: r.offset, length, ...(isWrite ? { data: pattern(length, r.seed) } : {}) }));
  }
  if (s.disc) parts.push(encodeRequest({ type: CMD.DISC, cookie: 1n }));
  return Buffer.concat(parts);
}

type Mutation =
  | { k: "set"; at: number; v: number }
  | { k: "flip"; at: number; bit: number }
  | { k: "truncate"; at: number }
  | { k: "insert"; at: number; bytes: Uint8Array }
  | { k: "delete"; at: number; n: number }
  | { k: "dup"; at: number; n: number }
  | { k: "u32"; at: number; v: number };

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ k: fc.constant("set" as const), at: fc.nat(), v: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ k: fc.constant("flip" as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ k: fc.constant("truncate" as const), at: fc.nat() }),
  fc.record({ k: fc.constant("insert" as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 32 }) }),
  fc.record({ k: fc.constant("delete" as const), at: fc.nat(), n: fc.integer({ min: 1, max: 32 }) }),
  fc.record({ k: fc.constant("dup" as const), at: fc.nat(), n: fc.integer({ min: 1, max: 64 }) }),
  fc.record({
    k: fc.constant("u32" as const),
    at: fc.nat(),
    v: fc.constantFrom(0, 1, 3, 0xffffffff, 0x80000000, MAX_OPTION_BYTES, MAX_OPTION_BYTES + 1, MAX_REQUEST_BYTES, MAX_REQUEST_BYTES + 1, REQUEST_MAGIC, 0x7fffffff),
  }),
);

/** Positions are taken modulo the length, and mostly land in the first 400 bytes (headers, not WRITE data). */
function mutate(input: Buffer, mutations: Mutation[]): Buffer {
  let b = Buffer.from(input);
  for (const m of mutations) {
    const span = m.at % 3 === 0 ? b.length + 1 : Math.min(b.length + 1, 400);
    const at = Math.floor(m.at / 3) % span;
    switch (m.k) {
      case "set":
        if (at < b.length) b[at] = m.v;
        break;
      case "flip":
        if (at < b.length) b[at]! ^= 1 << m.bit;
        break;
      case "truncate":
        b = b.subarray(0, at);
        break;
      case "insert":
        b = Buffer.concat([b.subarray(0, at), Buffer.from(m.bytes), b.subarray(at)]);
        break;
      case "delete":
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.n)]);
        break;
      case "dup":
        b = Buffer.concat([b.subarray(0, at + m.n), b.subarray(at, at + m.n), b.subarray(at + m.n)]);
        break;
      case "u32":
        if (at + 4 <= b.length) b.writeUInt32BE(m.v, at);
        break;
    }
  }
  return b;
}

// ---------------------------------------------------------------- reading what was sent, and checking what came back

/** What the server should have received in transmission, in order. */
interface Received {
  type: number;
  flags: number;
  cookie: bigint;
  offset: bigint;
  length: number;
  data: Buffer | null;
  /** After a DISC: the server may or may not serve it. */
  uncertain: boolean;
  /** The server hangs up over garbage later on: it may abandon this request rather than serve it. */
  mayBeDropped: boolean;
  /** Errors it may get; empty: it must succeed. */
  errors: Set<number>;
  /** Whether success is optional too (DF without structured replies). */
  mayFail: Set<number>;
  answered: number;
}

interface Outcome {
  received: Received[];
  exp: ExportModel | null;
  /** The server saw the whole session and had no cause to cut it short: every request before a DISC gets its reply. */
  clean: boolean;
  ambiguous: boolean;
  replies: number;
}

class Stream {
  p = 0;
  /** The output was cut short: from here on the walk follows the model alone and checks nothing. */
  blind = false;
  constructor(readonly b: Buffer, readonly cut: boolean) {}
  get left(): number {
    return this.b.length - this.p;
  }
  /** n bytes, or null if the stream ends first (allowed only if the server cut the connection). */
  take(n: number, what: string): Buffer | null {
    if (this.left < n) {
      if (this.cut) return null;
      throw new Error(`the server's output ends inside ${what} (${this.left} of ${n} bytes)`);
    }
    const out = this.b.subarray(this.p, this.p + n);
    this.p += n;
    return out;
  }
}

class Truncated extends Error {}

function need(b: Buffer | null): Buffer {
  if (!b) throw new Truncated();
  return b;
}

function parseInfoData(data: Buffer): { name: string; infos: number[] } | null {
  if (data.length < 6) return null;
  const n = data.readUInt32BE(0);
  if (data.length < 4 + n + 2) return null;
  const name = data.toString("utf8", 4, 4 + n);
  const count = data.readUInt16BE(4 + n);
  if (data.length !== 4 + n + 2 + 2 * count) return null;
  const infos: number[] = [];
  for (let i = 0; i < count; i++) infos.push(data.readUInt16BE(6 + n + 2 * i));
  return { name, infos };
}

function parseMetaData(data: Buffer): { name: string; queries: string[] } | null {
  let at = 0;
  const u32 = () => {
    if (at + 4 > data.length) return null;
    const v = data.readUInt32BE(at);
    at += 4;
    return v;
  };
  const str = (n: number) => {
    if (at + n > data.length) return null;
    const s = data.toString("utf8", at, at + n);
    at += n;
    return s;
  };
  const n = u32();
  if (n === null) return null;
  const name = str(n);
  if (name === null) return null;
  const count = u32();
  if (count === null) return null;
  const queries: string[] = [];
  for (let i = 0; i < count; i++) {
    const len = u32();
    if (len === null) return null;
    const q = str(len);
    if (q === null) return null;
    queries.push(q);
  }
  return at === data.length ? { name, queries } : null;
}

function checkTransmissionFlags(flags: number, exp: ExportModel, structured: boolean): void {
  assert.ok(flags & TFLAG.HAS_FLAGS, "HAS_FLAGS");
  assert.equal(!!(flags & TFLAG.READ_ONLY), exp.readOnly, "READ_ONLY matches the export");
  if (flags & TFLAG.SEND_DF) assert.ok(structured, "DF only with structured replies");
  if (exp.readOnly) assert.equal(flags & (TFLAG.SEND_TRIM | TFLAG.SEND_WRITE_ZEROES), 0, "no TRIM or WRITE_ZEROES on a read-only export");
}

const ALLOWED_FLAGS: Record<number, number> = {
  [CMD.READ]: CMDFLAG.FUA | CMDFLAG.DF,
  [CMD.WRITE]: CMDFLAG.FUA,
  [CMD.FLUSH]: 0,
  [CMD.TRIM]: CMDFLAG.FUA,
  [CMD.CACHE]: 0,
  [CMD.WRITE_ZEROES]: CMDFLAG.FUA | CMDFLAG.NO_HOLE | CMDFLAG.FAST_ZERO,
  [CMD.BLOCK_STATUS]: CMDFLAG.REQ_ONE,
};
const KNOWN_ERRNOS = new Set(Object.values(E));

function expectedErrors(r: { type: number; flags: number; offset: bigint; length: number }, exp: ExportModel, structured: boolean, meta: boolean) {
  const errors = new Set<number>();
  const mayFail = new Set<number>();
  const allowed = ALLOWED_FLAGS[r.type];
  if (allowed === undefined) {
    errors.add(E.EINVAL);
    return { errors, mayFail };
  }
  if (r.flags & ~allowed) errors.add(E.EINVAL);
  if (r.type === CMD.READ && r.flags & CMDFLAG.DF && !structured) mayFail.add(E.EINVAL);
  const writes = r.type === CMD.WRITE || r.type === CMD.TRIM || r.type === CMD.WRITE_ZEROES;
  if (writes && exp.readOnly) errors.add(E.EPERM);
  if (r.type !== CMD.FLUSH) {
    if (r.type === CMD.BLOCK_STATUS && !meta) errors.add(E.EINVAL);
    if (r.type === CMD.READ && r.length > MAX_REQUEST_BYTES) errors.add(E.EINVAL);
    if (r.length === 0) errors.add(E.EINVAL);
    if (r.offset + BigInt(r.length) > BigInt(exp.size)) errors.add(r.type === CMD.WRITE || r.type === CMD.WRITE_ZEROES ? E.ENOSPC : E.EINVAL);
  }
  return { errors, mayFail };
}

/**
 * Checks the server's whole output for the bytes sent; returns what the server
 * received in transmission. `cut`: the connection was reset, so the output may
 * stop anywhere (but what is there must still be right).
 */
function checkSession(sent: Buffer, out: Buffer, cut: boolean, snapshot: (exp: ExportModel, offset: number, length: number) => Buffer | null): Outcome {
  const o = new Stream(out, cut);
  const result: Outcome = { received: [], exp: null, clean: !cut, ambiguous: false, replies: 0 };
  const end = () => {
    if (!o.blind) assert.equal(o.left, 0, `the server sent ${o.left} bytes more than it should have`);
  };
  /** Runs a check of output that may be cut short; if it is, the walk goes on blind. */
  const read = <T,>(f: () => T): T | null => {
    if (o.blind) return null;
    try {
      return f();
    } catch (err) {
      if (!(err instanceof Truncated)) throw err;
      o.blind = true;
      return null;
    }
  };
  try {
    read(() => {
      const g = need(o.take(18, "the greeting"));
      assert.equal(g.readBigUInt64BE(0), NBDMAGIC);
      assert.equal(g.readBigUInt64BE(8), IHAVEOPT);
      assert.equal(g.readUInt16BE(16), 3);
    });
    if (sent.length < 4) return end(), result;
    const flags = sent.readUInt32BE(0);
    if (!(flags & 1) || flags & ~3) return end(), result;
    const noZeroes = (flags & 2) !== 0;
    let structured = false;
    let meta: { name: string; on: boolean; id: number | null } = { name: "", on: false, id: null };
    let p = 4;

    /** One option's replies, up to ACK or an error; checks each header. */
    const group = (code: number) => read(() => groupOf(code));
    const groupOf = (code: number): { type: number; data: Buffer }[] => {
      const replies: { type: number; data: Buffer }[] = [];
      for (;;) {
        const h = need(o.take(20, "an option reply header"));
        assert.equal(h.readBigUInt64BE(0), OPTION_REPLY_MAGIC, "option reply magic");
        assert.equal(h.readUInt32BE(8), code, "an option reply names the option it answers");
        const type = h.readUInt32BE(12);
        const data = need(o.take(h.readUInt32BE(16), "an option reply's data"));
        replies.push({ type, data });
        if (type === REP.ACK) assert.equal(data.length, 0, "ACK has no data");
        if (type === REP.ACK || type >= 0x80000000) {
          if (type >= 0x80000000) assert.ok(type <= REP.ERR_TOO_BIG, `known error 0x${type.toString(16)}`);
          return replies;
        }
        assert.ok(replies.length < 100, "an endless reply group");
      }
    };
    const error = (code: number, want: number) => {
      const r = group(code);
      if (!r) return;
      assert.deepEqual(r.map((x) => x.type), [want], `option ${code}: expected error 0x${want.toString(16)}`);
    };
    const infoGroup = (code: number, exp: ExportModel) => {
      const r = group(code);
      if (!r) return;
      assert.equal(r.at(-1)!.type, REP.ACK, `option ${code} on "${exp.name}" should succeed`);
      let sawExport = false;
      for (const x of r.slice(0, -1)) {
        assert.equal(x.type, REP.INFO);
        assert.ok(x.data.length >= 2);
        const t = x.data.readUInt16BE(0);
        if (t === INFO.EXPORT) {
          assert.equal(x.data.length, 12);
          assert.equal(Number(x.data.readBigUInt64BE(2)), exp.size, "INFO size");
          checkTransmissionFlags(x.data.readUInt16BE(10), exp, structured);
          sawExport = true;
        } else if (t === INFO.NAME) assert.equal(x.data.subarray(2).toString(), exp.name);
        else if (t === INFO.BLOCK_SIZE) {
          assert.equal(x.data.length, 14);
          assert.deepEqual([x.data.readUInt32BE(2), x.data.readUInt32BE(6), x.data.readUInt32BE(10)], [1, 4096, 32 * MiB]);
        } else assert.equal(t, INFO.DESCRIPTION, `unknown INFO ${t}`);
      }
      assert.ok(sawExport, "INFO/GO always gives NBD_INFO_EXPORT");
    };

    for (;;) {
      if (sent.length - p < 16) return end(), result;
      if (sent.readBigUInt64BE(p) !== IHAVEOPT) return end(), result;
      const code = sent.readUInt32BE(p + 8);
      const len = sent.readUInt32BE(p + 12);
      if (sent.length - p - 16 < len) return end(), result; // incomplete (skipped or not): no answer yet
      const data = sent.subarray(p + 16, p + 16 + len);
      p += 16 + len;
      if (len > MAX_OPTION_BYTES) {
        if (code === OPT.EXPORT_NAME) return end(), result;
        error(code, REP.ERR_TOO_BIG);
        continue;
      }
      switch (code) {
        case OPT.EXPORT_NAME: {
          const exp = lookup(data.toString("utf8"));
          if (!exp) return end(), result;
          read(() => {
            const r = need(o.take(noZeroes ? 10 : 134, "the EXPORT_NAME reply"));
            assert.equal(Number(r.readBigUInt64BE(0)), exp.size, "EXPORT_NAME size");
            checkTransmissionFlags(r.readUInt16BE(8), exp, structured);
            if (!noZeroes) assert.ok(r.subarray(10).equals(Buffer.alloc(124)));
          });
          return transmission(p, exp, false);
        }
        case OPT.ABORT: {
          const r = group(code);
          if (r) assert.deepEqual(r.map((x) => x.type), [REP.ACK]);
          return end(), result;
        }
        case OPT.LIST: {
          if (len !== 0) {
            error(code, REP.ERR_INVALID);
            break;
          }
          const r = group(code);
          if (!r) break;
          assert.equal(r.at(-1)!.type, REP.ACK);
          const names = r.slice(0, -1).map((x) => {
            assert.equal(x.type, REP.SERVER);
            const n = x.data.readUInt32BE(0);
            assert.ok(n + 4 <= x.data.length);
            return x.data.toString("utf8", 4, 4 + n);
          });
          assert.deepEqual(names.sort(), EXPORTS.map((e) => e.name).sort());
          break;
        }
        case OPT.INFO:
        case OPT.GO: {
          const req = parseInfoData(data);
          if (!req) {
            error(code, REP.ERR_INVALID);
            break;
          }
          const exp = lookup(req.name);
          if (!exp) {
            error(code, REP.ERR_UNKNOWN);
            break;
          }
          infoGroup(code, exp);
          if (code === OPT.GO) return transmission(p, exp, meta.on && meta.name === req.name);
          break;
        }
        case OPT.STRUCTURED_REPLY:
          if (len !== 0 || structured) error(code, REP.ERR_INVALID);
          else {
            const r = group(code);
            if (r) assert.deepEqual(r.map((x) => x.type), [REP.ACK]);
            structured = true;
          }
          break;
        case OPT.LIST_META_CONTEXT:
        case OPT.SET_META_CONTEXT: {
          const setting = code === OPT.SET_META_CONTEXT;
          const req = parseMetaData(data);
          if ((setting && !structured) || !req) {
            error(code, REP.ERR_INVALID);
            break;
          }
          const asked = req.queries.includes("base:allocation");
          const r = group(code);
          if (!r) {
            if (setting) meta = { name: req.name, on: asked, id: null };
            break;
          }
          assert.equal(r.at(-1)!.type, REP.ACK, "meta context query answered");
          const contexts = r.slice(0, -1).map((x) => {
            assert.equal(x.type, REP.META_CONTEXT);
            assert.ok(x.data.length >= 4);
            assert.equal(x.data.subarray(4).toString(), "base:allocation");
            return x.data.readUInt32BE(0);
          });
          assert.ok(contexts.length <= 1);
          if (asked) assert.equal(contexts.length, 1, "base:allocation asked for and not given");
          if (setting) {
            if (!asked) assert.equal(contexts.length, 0, "SET_META_CONTEXT selected a context not asked for");
            meta = { name: req.name, on: contexts.length === 1, id: contexts[0] ?? null };
          } else if (contexts.length === 1) {
            assert.ok(asked || req.queries.length === 0 || req.queries.includes("base:"), "listed a context that matches no query");
          }
          break;
        }
        default:
          error(code, REP.ERR_UNSUP);
      }
    }

    function transmission(at: number, exp: ExportModel, metaOn: boolean): Outcome {
      result.exp = exp;
      // What the server receives, framed as the spec says.
      let disc = false;
      let framingError = false;
      while (sent.length - at >= 28) {
        if (sent.readUInt32BE(at) !== REQUEST_MAGIC) {
          framingError = true;
          break;
        }
        const flags = sent.readUInt16BE(at + 4);
        const type = sent.readUInt16BE(at + 6);
        const cookie = sent.readBigUInt64BE(at + 8);
        const offset = sent.readBigUInt64BE(at + 16);
        const length = sent.readUInt32BE(at + 24);
        let data: Buffer | null = null;
        if (type === CMD.WRITE && length > 0) {
          if (length > MAX_REQUEST_BYTES) {
            framingError = true;
            break;
          }
          if (sent.length - at - 28 < length) break;
          data = sent.subarray(at + 28, at + 28 + length);
        }
        at += 28 + (data ? length : 0);
        if (type === CMD.DISC) {
          disc = true;
          continue;
        }
        const { errors, mayFail } = expectedErrors({ type, flags, offset, length }, exp, structured, metaOn);
        result.received.push({ type, flags, cookie, offset, length, data, uncertain: disc, mayBeDropped: false, errors, mayFail, answered: 0 });
      }
      if (framingError || sent.length - at > 0) result.clean = false;
      if (framingError) for (const r of result.received) r.mayBeDropped = true;
      if (!disc) result.clean = false; // without a DISC, the client's EOF may overtake replies

      // The replies.
      const partial = new Map<Received, Chunk[]>();
      const candidates = (cookie: bigint) => result.received.filter((r) => r.cookie === cookie && r.answered === 0);
      /**
       * The request a reply answers. Cookies may repeat (mutations copy requests), and
       * replies come in any order: among unanswered requests with this cookie, those
       * the reply fits (a simple reply's errno is known at once). If they would read
       * the rest of the reply differently, the rest cannot be checked.
       */
      const fits = (r: Received, errno: number) => (errno === 0 ? r.errors.size === 0 : r.errors.has(errno) || r.mayFail.has(errno));
      const pick = (cookie: bigint, errno?: number): Received => {
        const open = [...partial.keys()].find((r) => r.cookie === cookie);
        if (open) return open;
        const all = candidates(cookie);
        assert.ok(all.length > 0, `a reply for cookie ${cookie}, which no request (still unanswered) has`);
        const c = errno === undefined ? all : all.filter((r) => fits(r, errno));
        if (c.length === 0) return all[0]!; // finish() reports the wrong outcome
        const shapes = new Set(c.map((r) => `${r.type === CMD.READ ? `R${r.length}` : r.type === CMD.BLOCK_STATUS ? "B" : "O"}${errno === undefined ? r.errors.size : ""}`));
        if (shapes.size > 1) throw new AmbiguousCookie();
        return c[0]!;
      };
      const finish = (r: Received, errno: number) => {
        r.answered++;
        result.replies++;
        if (errno === 0) assert.ok(r.errors.size === 0, `request ${describeReq(r)} succeeded; expected ${[...r.errors]}`);
        else {
          assert.ok(KNOWN_ERRNOS.has(errno as never), `unknown errno ${errno}`);
          assert.ok(r.errors.has(errno) || r.mayFail.has(errno), `request ${describeReq(r)} failed with ${errno}; expected ${r.errors.size ? [...r.errors] : "success"}`);
        }
      };
      const checkData = (r: Received, data: Buffer) => {
        const want = snapshot(exp, Number(r.offset), r.length);
        if (want && !r.uncertain) assert.ok(data.equals(want), `READ ${describeReq(r)} returned the wrong data`);
      };
      if (o.blind) return result;
      try {
        while (o.left > 0) {
          const magic = need(o.take(4, "a reply's magic")).readUInt32BE(0);
          if (magic === SIMPLE_REPLY_MAGIC) {
            const h = need(o.take(12, "a simple reply"));
            const errno = h.readUInt32BE(0);
            const r = pick(h.readBigUInt64BE(4), errno);
            assert.ok(!partial.has(r), "a simple reply in the middle of a structured one");
            if (structured) assert.ok(r.type !== CMD.READ && r.type !== CMD.BLOCK_STATUS, "a simple reply to READ or BLOCK_STATUS after structured replies were negotiated");
            finish(r, errno);
            if (r.type === CMD.READ && errno === 0) checkData(r, need(o.take(r.length, "a READ's data")));
          } else if (magic === STRUCTURED_REPLY_MAGIC) {
            assert.ok(structured, "a structured reply without STRUCTURED_REPLY");
            const h = need(o.take(16, "a structured reply header"));
            const flags = h.readUInt16BE(0);
            const type = h.readUInt16BE(2);
            const r = pick(h.readBigUInt64BE(4));
            const payload = need(o.take(h.readUInt32BE(12), "a chunk's payload"));
            assert.equal(flags & ~1, 0, "unknown chunk flags");
            assert.ok(r.type === CMD.READ || r.type === CMD.BLOCK_STATUS, `a structured reply to command ${r.type}`);
            const chunk = parseChunk(flags, type, payload);
            const chunks = partial.get(r) ?? [];
            chunks.push(chunk);
            partial.set(r, chunks);
            const allowed: number[] =
              r.type === CMD.READ ? [CHUNK.OFFSET_DATA, CHUNK.OFFSET_HOLE, CHUNK.NONE, CHUNK.ERROR, CHUNK.ERROR_OFFSET] : [CHUNK.BLOCK_STATUS, CHUNK.NONE, CHUNK.ERROR];
            assert.ok(allowed.includes(type), `chunk type ${type} in a reply to command ${r.type}`);
            if (!(flags & 1)) continue;
            partial.delete(r);
            const err = chunks.find((c) => c.errno !== undefined);
            finish(r, err?.errno ?? 0);
            if (err) continue;
            if (r.type === CMD.READ) {
              checkData(r, assembleRead({ cookie: r.cookie, structured: true, errno: 0, chunks }, Number(r.offset), r.length));
            } else {
              const status = chunks.filter((c) => c.type === CHUNK.BLOCK_STATUS);
              assert.equal(status.length, 1, "one BLOCK_STATUS chunk for base:allocation");
              assert.equal(status[0]!.contextId, meta.id, "the context id given at SET_META_CONTEXT");
              const extents = status[0]!.extents!;
              assert.ok(extents.length > 0);
              for (const e of extents) {
                assert.ok(e.length > 0, "an empty extent");
                assert.equal(e.flags & ~3, 0, "unknown base:allocation flags");
              }
              if (r.flags & CMDFLAG.REQ_ONE) {
                assert.equal(extents.length, 1, "REQ_ONE: one extent");
                assert.ok(extents[0]!.length <= r.length, "REQ_ONE: within the request");
              }
            }
          } else {
            throw new Error(`bad reply magic 0x${magic.toString(16)}`);
          }
        }
        if (!cut) assert.equal(partial.size, 0, "a structured reply without its DONE chunk");
      } catch (err) {
        if (err instanceof AmbiguousCookie) {
          result.ambiguous = true;
          return result;
        }
        if (err instanceof Truncated) {
          result.clean = false;
          return result;
        }
        throw err;
      }
      if (result.clean) {
        for (const r of result.received) if (!r.uncertain) assert.equal(r.answered, 1, `request ${describeReq(r)} never answered`);
      }
      return result;
    }
  } catch (err) {
    if (err instanceof Truncated) {
      result.clean = false;
      return result;
    }
    throw err;
  }
}

class AmbiguousCookie extends Error {}

function describeReq(r: { type: number; flags: number; offset: bigint; length: number; cookie: bigint }): string {
  return `cmd ${r.type} flags 0x${r.flags.toString(16)} at ${r.offset}+${r.length} cookie ${r.cookie}`;
}

// ---------------------------------------------------------------- the harness

interface Harness {
  server: NbdServer;
  port: number;
  fuzz: GuardedDevice;
  ro: GuardedDevice;
  roData: Buffer;
  errors: string[];
  /** "closing connection: why" lines: the server hung up by its own decision. */
  closes: string[];
  health: RawClient;
  cases: number;
  stats: { transmission: number; replies: number; ambiguous: number; reset: number; lingering: number };
  /** Connections the server holds between cases: the health client's, and any that linger. */
  open: number;
}

let h: Harness;

/** Polls `cond` for a while; false if it never held. */
async function waitFor(cond: () => boolean, polls = 500): Promise<boolean> {
  for (let i = 0; i < polls; i++) {
    if (cond()) return true;
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  return false;
}

/** Sends `bytes` in pieces cut at `cuts` (fractions), half-closes, and returns all the server sent. */
async function throwAt(bytes: Buffer, cuts: number[]): Promise<{ out: Buffer; cut: boolean }> {
  const c = await RawClient.connect(h.port);
  const points = [...new Set(cuts.map((f) => Math.floor(f * bytes.length)))].sort((a, b) => a - b);
  let at = 0;
  for (const point of [...points, bytes.length]) {
    if (point > at && !c.socket.destroyed) c.socket.write(bytes.subarray(at, point));
    at = Math.max(at, point);
    await new Promise((resolve) => setImmediate(resolve));
  }
  if (!c.socket.destroyed) c.socket.end();
  const out = await c.readToEnd();
  await c.closed;
  return { out, cut: c.error !== null };
}

/** One case: throw the bytes, check the replies, the disks, the logs, and that others are served. */
async function runCase(bytes: Buffer, cuts: number[]): Promise<void> {
  h.cases++;
  h.open = h.server.connectionCount;
  const before = await h.fuzz.inner.read(0, FUZZ_SIZE);
  h.closes.length = 0;
  const thrown = await throwAt(bytes, cuts);
  const out = thrown.out;
  // Only a reset connection may have lost replies (the server hangs up gracefully, even over garbage).
  const cut = thrown.cut;
  // The connection goes away once the client has (and nothing is still running on the disk).
  // One that lingers is counted, not waited for: the server cuts such a connection off after
  // its drain timeout (see server.test.ts, "while hanging up, the server reads on ...").
  if (!(await waitFor(() => h.server.connectionCount <= h.open))) {
    h.stats.lingering++;
  }
  if (thrown.cut) h.stats.reset++;

  const snapshot = (exp: ExportModel, offset: number, length: number): Buffer | null => {
    if (exp.readOnly) return h.roData.subarray(offset, offset + length);
    // Only where no write of this session may have landed.
    for (const r of outcome.received) {
      if (writesData(r) && overlaps(r, offset, length)) return null;
    }
    return before.subarray(offset, offset + length);
  };
  let outcome: Outcome = { received: [], exp: null, clean: false, ambiguous: false, replies: 0 };
  // The snapshot needs the received requests, which checkSession finds before it reads replies; a
  // first pass without data checks gets them, the second checks everything.
  try {
    outcome = checkSession(bytes, out, cut, () => null);
    outcome = checkSession(bytes, out, cut, snapshot);
  } catch (err) {
    // Everything needed to replay the case by hand.
    (err as Error).message += `\n  sent (${bytes.length} bytes, cut at ${cuts}): ${bytes.toString("hex")}\n  got (${out.length} bytes${thrown.cut ? ", reset" : ""}${h.closes.length ? `, server: ${h.closes.join("; ")}` : ""}): ${out.toString("hex")}`;
    throw err;
  }
  if (outcome.exp) h.stats.transmission++;
  h.stats.replies += outcome.replies;
  if (outcome.ambiguous) h.stats.ambiguous++;

  // The disks: nothing out of range, nothing where no accepted write went.
  assert.deepEqual(h.fuzz.violations, []);
  assert.deepEqual(h.ro.violations, []);
  assert.deepEqual(h.errors, [], "nothing logged at error level");
  assert.ok(h.fuzz.inner.allocatedBytes <= FUZZ_SIZE, "no chunk past the end of the disk");
  assert.ok(h.ro.inner.allocatedBytes <= 64 * KiB);
  assert.ok((await h.ro.inner.read(0, RO_SIZE)).equals(h.roData), "the read-only export is unchanged");
  const after = await h.fuzz.inner.read(0, FUZZ_SIZE);
  checkDisk(before, after, outcome.exp?.name === "fuzz" ? outcome.received : []);

  // A well-behaved client on the connection kept open, and on a new one.
  const offset = (h.cases * 4099) % (FUZZ_SIZE - 512);
  const data = pattern(512, h.cases);
  await h.health.writeBytes(offset, data, CMDFLAG.FUA);
  assert.ok((await h.health.readBytes(offset, 512)).equals(data), "the health client reads back what it wrote");
  const bs = await h.health.request({ type: CMD.BLOCK_STATUS, offset: 0, length: FUZZ_SIZE, flags: CMDFLAG.REQ_ONE });
  assert.equal(bs.errno, 0);
  if (h.cases % 10 === 0) {
    const { client } = await RawClient.session(h.port, "ro", { structured: true });
    assert.ok((await client.readBytes(0, RO_SIZE)).equals(h.roData), "a new client reads the read-only export");
    client.disconnect();
    await client.readToEnd();
    await client.closed;
    await waitFor(() => h.server.connectionCount <= h.open);
  }
}

function writesData(r: Received): boolean {
  return (r.type === CMD.WRITE || r.type === CMD.TRIM || r.type === CMD.WRITE_ZEROES) && r.errors.size === 0;
}
function overlaps(r: Received, offset: number, length: number): boolean {
  const from = Number(r.offset);
  return from < offset + length && offset < from + r.length;
}

/**
 * Every byte is: unchanged if no accepted write covers it; else the value
 * one of those writes gives it (writes in flight together may land in any
 * order). Requests after a DISC may or may not have been served.
 */
function checkDisk(before: Buffer, after: Buffer, received: Received[]): void {
  const touched = new Uint8Array(FUZZ_SIZE); // 1: by a request that was surely served; 2: maybe
  const explained = new Uint8Array(FUZZ_SIZE);
  for (const r of received) {
    if (!writesData(r)) continue;
    const from = Number(r.offset);
    for (let i = 0; i < r.length; i++) {
      const v = r.type === CMD.WRITE ? r.data![i]! : 0;
      touched[from + i]! |= r.uncertain || r.mayBeDropped ? 2 : 1;
      if (after[from + i] === v) explained[from + i] = 1;
    }
  }
  for (let i = 0; i < FUZZ_SIZE; i++) {
    if (touched[i] === 0) {
      if (after[i] !== before[i]) assert.fail(`byte ${i} changed though no accepted write covers it`);
    } else if (touched[i]! & 1) {
      if (!explained[i]) assert.fail(`byte ${i} holds ${after[i]}, which no write covering it wrote`);
    } else if (!explained[i] && after[i] !== before[i]) {
      assert.fail(`byte ${i} holds ${after[i]}, unexplained`);
    }
  }
}

// ---------------------------------------------------------------- the properties

const cutsArb = fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 6 });

describe("NBD server under random and mutated sessions", () => {
  before(async () => {
    const fuzz = new GuardedDevice(FUZZ_SIZE);
    const ro = new GuardedDevice(RO_SIZE, true);
    const roData = pattern(RO_SIZE, 77);
    await ro.inner.write(0, roData);
    await fuzz.inner.write(0, pattern(FUZZ_SIZE, 78));
    await fuzz.inner.trim(64 * KiB, 64 * KiB); // a hole
    const errors: string[] = [];
    const closes: string[] = [];
    const logger: Logger = {
      debug() {},
      info(_obj, msg) {
        if (msg.startsWith("closing connection")) closes.push(msg);
      },
      warn(_obj, msg) {
        if (msg.startsWith("closing connection")) closes.push(msg);
      },
      error(obj, msg) {
        errors.push(`${msg} ${JSON.stringify(obj, (_k, v) => (v instanceof Error ? v.stack : v))}`);
        if (msg.startsWith("closing connection")) closes.push(msg);
      },
    };
    const server = new NbdServer({ exports: new StaticExports().add({ name: "fuzz", device: fuzz }).add({ name: "ro", device: ro }), logger });
    const { port } = await server.listen(0);
    const { client: health } = await RawClient.session(port, "fuzz", { meta: true });
    h = { server, port, fuzz, ro, roData, errors, closes, health, cases: 0, stats: { transmission: 0, replies: 0, ambiguous: 0, reset: 0, lingering: 0 }, open: 1 };
  });

  after(async () => {
    h.health.disconnect();
    await h.health.readToEnd();
    await h.server.close();
    // The test's own sanity: the fuzz reached the transmission phase and got replies.
    console.log(`# fuzz: ${h.cases} cases, ${h.stats.transmission} reached transmission, ${h.stats.replies} replies checked, ${h.stats.reset} reset, ${h.stats.ambiguous} ambiguous, ${h.stats.lingering} lingered after the client left`);
    assert.ok(h.stats.transmission > h.cases / 4, "too few cases reached the transmission phase");
  });

  it("valid sessions: every reply is right, every request answered", async () => {
    await fc.assert(
      fc.asyncProperty(sessionArb, cutsArb, async (session, cuts) => {
        await runCase(encodeSession(session), cuts);
      }),
      { seed: SEED, numRuns: runs(800), includeErrorInReport: true },
    );
  });

  it("mutated sessions (bytes flipped, cut, inserted, deleted, repeated)", async () => {
    await fc.assert(
      fc.asyncProperty(sessionArb, fc.array(mutationArb, { minLength: 1, maxLength: 4 }), cutsArb, async (session, mutations, cuts) => {
        await runCase(mutate(encodeSession(session), mutations), cuts);
      }),
      { seed: SEED + 1, numRuns: runs(3000), includeErrorInReport: true },
    );
  });

  it("random bytes, alone and after a valid start", async () => {
    const prefixes = [
      Buffer.alloc(0),
      clientFlags(),
      Buffer.concat([clientFlags(), Buffer.from("IHAVEOPT")]),
      Buffer.concat([clientFlags(), encodeOption(OPT.GO, infoData("fuzz"))]),
      Buffer.concat([clientFlags(), encodeOption(OPT.STRUCTURED_REPLY), encodeOption(OPT.SET_META_CONTEXT, metaData("fuzz", ["base:allocation"])), encodeOption(OPT.GO, infoData("fuzz"))]),
      Buffer.concat([clientFlags(), encodeOption(OPT.GO, infoData("fuzz")), encodeRequest({ type: CMD.READ, cookie: 9n, length: 64 })]),
    ];
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...prefixes.keys()), fc.uint8Array({ maxLength: 400 }), cutsArb, async (prefix, bytes, cuts) => {
        await runCase(Buffer.concat([prefixes[prefix]!, Buffer.from(bytes)]), cuts);
      }),
      { seed: SEED + 2, numRuns: runs(1200), includeErrorInReport: true },
    );
  });
});
