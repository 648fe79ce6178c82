/**
 * The NBD server in process, on port 0, over MemoryDevices, spoken to byte by
 * byte by test/nbd/client.ts: every option, every command and its errors,
 * concurrency (out-of-order completion, DISC and close with requests in
 * flight, multi-conn flush), and clients that misbehave (never read, hang up).
 *
 * No test asserts a duration. Where a test must wait for the server to have
 * done all it will do (to show it stopped reading), it waits until a counter
 * stops moving; a slow machine can only make such a test pass, never fail.
 */
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { setTimeout as delay } from "node:timers/promises";
import { NbdServer, StaticExports, type ConnectionLimits, type ExportProvider, type Logger, type NbdExport } from "../../src/nbd/index.js";
import { MemoryDevice, type BlockDevice, type Extent, type ZeroOptions } from "../../src/blockdev/index.js";
import {
  CHUNK,
  CLIENT_FIXED_NEWSTYLE,
  CLIENT_NO_ZEROES,
  CMD,
  CMDFLAG,
  E,
  INFO,
  OPT,
  REP,
  RawClient,
  TFLAG,
  assembleRead,
  clientFlags,
  encodeOption,
  encodeRequest,
  infoData,
  metaData,
  type OptionReply,
  pattern,
} from "./client.js";

const KiB = 1024;
const MiB = 1024 * KiB;
/** An offset past the end of every test disk. */
const SIZE_OOR = 2 ** 40;

// ---------------------------------------------------------------- a device to watch

/** Opens when told; waiters queue up behind it. */
class Gate {
  #open = true;
  #waiters: (() => void)[] = [];
  close(): void {
    this.#open = false;
  }
  open(): void {
    this.#open = true;
    for (const w of this.#waiters.splice(0)) w();
  }
  pass(): Promise<void> {
    return this.#open ? Promise.resolve() : new Promise((resolve) => this.#waiters.push(resolve));
  }
}

/**
 * A MemoryDevice with eyes: counts calls, holds calls at gates, records any
 * out-of-range call, and models a write-back cache: `durable` holds only what
 * a flush (or FUA) has made durable.
 */
class WatchedDevice implements BlockDevice {
  readonly inner: MemoryDevice;
  readonly durable: MemoryDevice;
  readonly calls = { read: 0, write: 0, writeZeroes: 0, trim: 0, flush: 0, extents: 0 };
  readonly violations: string[] = [];
  readonly zeroOptions: ZeroOptions[] = [];
  readGate = new Gate();
  writeGate = new Gate();
  /** Only reads starting at offsets this accepts wait at readGate. */
  gatedRead: (offset: number) => boolean = () => true;
  #dirty: [number, number][] = [];
  #started: { kind: keyof WatchedDevice["calls"]; count: number; resolve: () => void }[] = [];

  readonly #readOnly: boolean;

  /** `inner` stays writable, so that a test can fill a read-only export. */
  constructor(size: number, options: { readOnly?: boolean } = {}) {
    this.inner = new MemoryDevice(size);
    this.durable = new MemoryDevice(size);
    this.#readOnly = options.readOnly ?? false;
  }
  get size(): number {
    return this.inner.size;
  }
  get readOnly(): boolean {
    return this.#readOnly;
  }

  /** Resolves once `count` calls of `kind` have started. */
  started(kind: keyof WatchedDevice["calls"], count: number): Promise<void> {
    if (this.calls[kind] >= count) return Promise.resolve();
    return new Promise((resolve) => this.#started.push({ kind, count, resolve }));
  }

  #call(kind: keyof WatchedDevice["calls"], offset?: number, length?: number): void {
    this.calls[kind]++;
    if (offset !== undefined && length !== undefined && (offset < 0 || length < 0 || offset + length > this.size || !Number.isSafeInteger(offset))) {
      this.violations.push(`${kind} at ${offset}+${length} on a ${this.size}-byte device`);
    }
    this.#started = this.#started.filter((s) => {
      if (s.kind !== kind || this.calls[kind] < s.count) return true;
      s.resolve();
      return false;
    });
  }

  async read(offset: number, length: number): Promise<Buffer> {
    this.#call("read", offset, length);
    if (this.gatedRead(offset)) await this.readGate.pass();
    return this.inner.read(offset, length);
  }
  async write(offset: number, data: Buffer, fua?: boolean): Promise<void> {
    this.#call("write", offset, data.length);
    const copy = Buffer.from(data); // the caller may reuse `data` once we resolve; we wait first
    await this.writeGate.pass();
    await this.inner.write(offset, copy);
    this.#dirty.push([offset, copy.length]);
    if (fua) await this.#persist([[offset, copy.length]]);
  }
  async writeZeroes(offset: number, length: number, options?: ZeroOptions): Promise<void> {
    this.#call("writeZeroes", offset, length);
    this.zeroOptions.push({ ...options });
    await this.writeGate.pass();
    await this.inner.writeZeroes(offset, length, options);
    this.#dirty.push([offset, length]);
    if (options?.fua) await this.#persist([[offset, length]]);
  }
  async trim(offset: number, length: number): Promise<void> {
    this.#call("trim", offset, length);
    await this.writeGate.pass();
    await this.inner.trim(offset, length);
    this.#dirty.push([offset, length]);
  }
  async flush(): Promise<void> {
    this.#call("flush");
    const dirty = this.#dirty;
    this.#dirty = [];
    await this.#persist(dirty);
  }
  async extents(offset: number, length: number): Promise<Extent[]> {
    this.#call("extents", offset, length);
    return this.inner.extents(offset, length);
  }
  async close(): Promise<void> {}

  async #persist(ranges: [number, number][]): Promise<void> {
    for (const [offset, length] of ranges) {
      const data = await this.inner.read(offset, length);
      await this.durable.write(offset, data);
    }
  }
}

// ---------------------------------------------------------------- helpers

interface Served {
  server: NbdServer;
  port: number;
  provider: StaticExports;
}

/** Log lines at info and above, as "level: message". */
type Lines = string[];

async function serve(
  exports: NbdExport[],
  limits?: Partial<ConnectionLimits>,
  provider?: ExportProvider,
): Promise<Served & { close(): Promise<void>; lines: Lines }> {
  const statics = new StaticExports();
  for (const e of exports) statics.add(e);
  const lines: Lines = [];
  const logger: Logger = {
    debug() {},
    info: (_o, m) => void lines.push(`info: ${m}`),
    warn: (_o, m) => void lines.push(`warn: ${m}`),
    error: (_o, m) => void lines.push(`error: ${m}`),
  };
  const server = new NbdServer({ exports: provider ?? statics, logger, ...(limits ? { limits } : {}) });
  const { port } = await server.listen(0);
  return { server, port, provider: statics, lines, close: () => server.close() };
}


/** Waits until `value()` has not changed for a while (or `limit` polls), and returns it. */
async function settled(value: () => number, quietPolls = 8, pollMs = 50, limit = 400): Promise<number> {
  let last = value();
  let quiet = 0;
  for (let i = 0; i < limit && quiet < quietPolls; i++) {
    await delay(pollMs);
    const v = value();
    quiet = v === last ? quiet + 1 : 0;
    last = v;
  }
  return last;
}

/** Polls until `cond()` holds (a wait, not a timing assertion: it gives up only after a long while). */
async function waitUntil(cond: () => boolean, what = "a condition"): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    if (cond()) return;
    await delay(10);
  }
  assert.fail(`gave up waiting for ${what}`);
}

/** Resolves to "done" or, if `p` has not settled after `ms`, to "hung" (a hang detector, not a timing assertion). */
async function hangs(p: Promise<unknown>, ms = 5000): Promise<"done" | "hung"> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<"hung">((resolve) => (timer = setTimeout(() => resolve("hung"), ms)));
  const r = await Promise.race([p.then(() => "done" as const), hung]);
  clearTimeout(timer);
  return r;
}

function errorReply(r: OptionReply[]): number {
  const last = r.at(-1)!;
  return last.type;
}

async function expectClosed(c: RawClient): Promise<Buffer> {
  const rest = await c.readToEnd();
  await c.closed;
  return rest;
}

// ---------------------------------------------------------------- the handshake

describe("NBD server: handshake", () => {
  const disk = new WatchedDevice(1 * MiB);
  const ro = new WatchedDevice(64 * KiB, { readOnly: true });
  let s: Served & { close(): Promise<void>; lines: Lines };
  const clients: RawClient[] = [];
  const open = async () => {
    const c = await RawClient.open(s.port);
    clients.push(c);
    return c;
  };

  before(async () => {
    s = await serve([
      { name: "disk", description: "the test disk", device: disk },
      { name: "ro", device: ro },
    ]);
  });
  after(async () => {
    for (const c of clients) c.close();
    await s.close();
  });

  it("greets with fixed newstyle and NO_ZEROES", async () => {
    const c = await RawClient.connect(s.port);
    clients.push(c);
    const g = await c.read(18);
    assert.equal(g.subarray(0, 8).toString("latin1"), "NBDMAGIC");
    assert.equal(g.subarray(8, 16).toString("latin1"), "IHAVEOPT");
    assert.equal(g.readUInt16BE(16), 3);
  });

  it("hangs up on a client without fixed newstyle, or with unknown flags", async () => {
    for (const flags of [0, CLIENT_NO_ZEROES, 3 | 4, 0x80000001]) {
      const c = await open();
      c.write(clientFlags(flags));
      c.sendOption(OPT.LIST);
      assert.equal((await expectClosed(c)).length, 0, `flags 0x${flags.toString(16)}`);
    }
  });

  it("EXPORT_NAME: size and flags, with 124 zeroes unless NO_ZEROES, then transmission", async () => {
    for (const noZeroes of [true, false]) {
      const c = await open();
      c.write(clientFlags(CLIENT_FIXED_NEWSTYLE | (noZeroes ? CLIENT_NO_ZEROES : 0)));
      c.sendOption(OPT.EXPORT_NAME, Buffer.from("disk"));
      const r = await c.read(noZeroes ? 10 : 134);
      assert.equal(Number(r.readBigUInt64BE(0)), 1 * MiB);
      const flags = r.readUInt16BE(8);
      assert.ok(flags & TFLAG.HAS_FLAGS && flags & TFLAG.SEND_FLUSH && flags & TFLAG.CAN_MULTI_CONN);
      if (!noZeroes) assert.ok(r.subarray(10).equals(Buffer.alloc(124)));
      const reply = await c.request({ type: CMD.READ, offset: 0, length: 512 });
      assert.equal(reply.errno, 0);
      assert.equal(reply.data!.length, 512);
      c.disconnect();
      await expectClosed(c);
    }
  });

  it("EXPORT_NAME of an unknown export: the server hangs up (the protocol has no error reply for it)", async () => {
    const c = await open();
    c.write(clientFlags());
    c.sendOption(OPT.EXPORT_NAME, Buffer.from("nope"));
    assert.equal((await expectClosed(c)).length, 0);
  });

  it("ABORT: ACK, then the server hangs up", async () => {
    const c = await open();
    c.write(clientFlags());
    const r = await c.option(OPT.ABORT);
    assert.deepEqual(r.map((x) => x.type), [REP.ACK]);
    assert.equal((await expectClosed(c)).length, 0);
  });

  it("LIST: one SERVER reply per export, then ACK; LIST with data is invalid and the handshake goes on", async () => {
    const c = await open();
    c.write(clientFlags());
    const r = await c.option(OPT.LIST);
    assert.deepEqual(r.map((x) => x.type), [REP.SERVER, REP.SERVER, REP.ACK]);
    const names = r.slice(0, 2).map((x) => x.data.subarray(4, 4 + x.data.readUInt32BE(0)).toString());
    assert.deepEqual(names.sort(), ["disk", "ro"]);
    assert.equal(errorReply(await c.option(OPT.LIST, Buffer.from("x"))), REP.ERR_INVALID);
    assert.equal((await c.go("disk")).size, 1 * MiB);
  });

  it("INFO: export, name, description and block sizes (1, 4096, 32 MiB); the handshake goes on", async () => {
    const c = await open();
    c.write(clientFlags());
    const r = await c.option(OPT.INFO, infoData("disk", [INFO.NAME, INFO.DESCRIPTION, INFO.BLOCK_SIZE, INFO.BLOCK_SIZE, 999]));
    assert.equal(r.at(-1)!.type, REP.ACK);
    const infos = new Map(r.slice(0, -1).map((x) => { assert.equal(x.type, REP.INFO); return [x.data.readUInt16BE(0), x.data] as const; }));
    assert.equal(r.length - 1, infos.size, "each information once");
    const exp = infos.get(INFO.EXPORT)!;
    assert.equal(exp.length, 12);
    assert.equal(Number(exp.readBigUInt64BE(2)), 1 * MiB);
    const flags = exp.readUInt16BE(10);
    assert.ok(flags & TFLAG.SEND_TRIM && flags & TFLAG.SEND_WRITE_ZEROES && flags & TFLAG.SEND_FUA && flags & TFLAG.SEND_CACHE);
    assert.equal(flags & TFLAG.READ_ONLY, 0);
    assert.equal(flags & TFLAG.SEND_DF, 0, "DF only with structured replies");
    assert.equal(infos.get(INFO.NAME)!.subarray(2).toString(), "disk");
    assert.equal(infos.get(INFO.DESCRIPTION)!.subarray(2).toString(), "the test disk");
    const bs = infos.get(INFO.BLOCK_SIZE)!;
    assert.deepEqual([bs.readUInt32BE(2), bs.readUInt32BE(6), bs.readUInt32BE(10)], [1, 4096, 32 * MiB]);
    // INFO does not end the handshake.
    const ro = await c.option(OPT.INFO, infoData("ro"));
    assert.ok(ro[0]!.data.readUInt16BE(10) & TFLAG.READ_ONLY);
    assert.equal(errorReply(await c.option(OPT.INFO, infoData("missing"))), REP.ERR_UNKNOWN);
    assert.equal(errorReply(await c.option(OPT.INFO, infoData("disk").subarray(0, 5))), REP.ERR_INVALID);
    assert.equal(errorReply(await c.option(OPT.INFO, Buffer.concat([infoData("disk"), Buffer.from([1])]))), REP.ERR_INVALID);
    const { size, replies } = await c.go("", [INFO.NAME]);
    assert.equal(size, 1 * MiB, "the default export is the first");
    assert.equal(replies.find((x) => x.type === REP.INFO && x.data.readUInt16BE(0) === INFO.NAME)!.data.subarray(2).toString(), "disk");
  });

  it("GO of an unknown export or with bad data: an error, and the handshake goes on", async () => {
    const c = await open();
    c.write(clientFlags());
    assert.equal(errorReply(await c.option(OPT.GO, infoData("missing"))), REP.ERR_UNKNOWN);
    assert.equal(errorReply(await c.option(OPT.GO, Buffer.alloc(3))), REP.ERR_INVALID);
    assert.equal(errorReply(await c.option(OPT.GO, Buffer.alloc(0))), REP.ERR_INVALID);
    const { flags } = await c.go("ro");
    assert.ok(flags & TFLAG.READ_ONLY);
    assert.equal(flags & (TFLAG.SEND_TRIM | TFLAG.SEND_WRITE_ZEROES | TFLAG.SEND_FAST_ZERO), 0);
  });

  it("STRUCTURED_REPLY: ACK once; again, or with data, is invalid; DF is advertised", async () => {
    const c = await open();
    c.write(clientFlags());
    assert.equal(errorReply(await c.option(OPT.STRUCTURED_REPLY, Buffer.from([0]))), REP.ERR_INVALID);
    assert.deepEqual((await c.option(OPT.STRUCTURED_REPLY)).map((x) => x.type), [REP.ACK]);
    assert.equal(errorReply(await c.option(OPT.STRUCTURED_REPLY)), REP.ERR_INVALID);
    const { flags } = await c.go("disk");
    assert.ok(flags & TFLAG.SEND_DF);
  });

  it("LIST_META_CONTEXT: base:allocation for no query, 'base:' and 'base:allocation'; nothing for others", async () => {
    const c = await open();
    c.write(clientFlags());
    for (const [queries, found] of [
      [[], true],
      [["base:"], true],
      [["base:allocation"], true],
      [["qemu:dirty-bitmap:x", "base:allocation"], true],
      [["qemu:dirty-bitmap:x"], false],
      [["base:allocationx"], false],
    ] as [string[], boolean][]) {
      const r = await c.option(OPT.LIST_META_CONTEXT, metaData("disk", queries));
      assert.equal(r.at(-1)!.type, REP.ACK, JSON.stringify(queries));
      assert.equal(r.length, found ? 2 : 1, JSON.stringify(queries));
      if (found) {
        assert.equal(r[0]!.type, REP.META_CONTEXT);
        assert.ok(r[0]!.data.readUInt32BE(0) !== undefined);
        assert.equal(r[0]!.data.subarray(4).toString(), "base:allocation");
      }
    }
    assert.equal(errorReply(await c.option(OPT.LIST_META_CONTEXT, metaData("disk", ["base:"]).subarray(0, 10))), REP.ERR_INVALID);
  });

  it("SET_META_CONTEXT: needs structured replies; selects base:allocation with an id", async () => {
    const c = await open();
    c.write(clientFlags());
    assert.equal(errorReply(await c.option(OPT.SET_META_CONTEXT, metaData("disk", ["base:allocation"]))), REP.ERR_INVALID);
    await c.option(OPT.STRUCTURED_REPLY);
    assert.deepEqual((await c.option(OPT.SET_META_CONTEXT, metaData("disk", ["nope:x"]))).map((x) => x.type), [REP.ACK]);
    const r = await c.option(OPT.SET_META_CONTEXT, metaData("disk", ["base:allocation"]));
    assert.deepEqual(r.map((x) => x.type), [REP.META_CONTEXT, REP.ACK]);
    assert.equal(r[0]!.data.subarray(4).toString(), "base:allocation");
    const id = r[0]!.data.readUInt32BE(0);
    c.structured = true;
    await c.go("disk");
    const bs = await c.request({ type: CMD.BLOCK_STATUS, offset: 0, length: 4096 });
    assert.equal(bs.errno, 0);
    assert.equal(bs.chunks[0]!.contextId, id);
  });

  it("answers unknown options (and STARTTLS) with ERR_UNSUP, and the handshake goes on", async () => {
    const c = await open();
    c.write(clientFlags());
    for (const opt of [0, 4, OPT.STARTTLS, 11, 12, 0x12345, 0xffffffff]) {
      assert.equal(errorReply(await c.option(opt, Buffer.from("some data"))), REP.ERR_UNSUP, `option ${opt}`);
    }
    assert.equal((await c.go("disk")).size, 1 * MiB);
  });

  it("answers an oversized option with ERR_TOO_BIG without reading it in, and the handshake goes on", async () => {
    const c = await open();
    c.write(clientFlags());
    assert.equal(errorReply(await c.option(OPT.INFO, Buffer.alloc(1 * MiB, 0x41))), REP.ERR_TOO_BIG);
    assert.equal(errorReply(await c.option(0x999, Buffer.alloc(100 * KiB))), REP.ERR_TOO_BIG);
    assert.equal((await c.go("disk")).size, 1 * MiB);
  });

  it("an oversized EXPORT_NAME gets no option reply (its client expects size and flags): the server hangs up", async () => {
    const c = await open();
    c.write(clientFlags());
    c.sendOption(OPT.EXPORT_NAME, Buffer.alloc(100 * KiB, 0x61));
    // Any byte at all is wrong here (the client would read it as the export's size).
    await assert.rejects(c.read(1), /connection ended/, "the server answered an oversized EXPORT_NAME with an option reply");
  });

  it("answers options sent all at once, in order", async () => {
    const c = await open();
    c.write(Buffer.concat([
      clientFlags(),
      encodeOption(OPT.LIST),
      encodeOption(0x77),
      encodeOption(OPT.STRUCTURED_REPLY),
      encodeOption(OPT.INFO, infoData("ro")),
      encodeOption(OPT.GO, infoData("disk")),
      encodeRequest({ type: CMD.READ, cookie: 42n, offset: 0, length: 16 }),
    ]));
    assert.deepEqual((await c.readOptionReplies(OPT.LIST)).map((x) => x.type), [REP.SERVER, REP.SERVER, REP.ACK]);
    assert.equal(errorReply(await c.readOptionReplies(0x77)), REP.ERR_UNSUP);
    assert.equal(errorReply(await c.readOptionReplies(OPT.STRUCTURED_REPLY)), REP.ACK);
    assert.equal(errorReply(await c.readOptionReplies(OPT.INFO)), REP.ACK);
    assert.equal(errorReply(await c.readOptionReplies(OPT.GO)), REP.ACK);
    c.structured = true;
    const r = await c.expect(42n, CMD.READ, 16);
    assert.equal(r.errno, 0);
    assert.deepEqual(assembleRead(r, 0, 16), Buffer.alloc(16));
  });

  it("replies written before a hang-up over garbage reach the client", async () => {
    // The server answers the options, then finds garbage and hangs up. It must not
    // close abortively (with unread input, the kernel resets the connection and
    // throws away replies not yet sent).
    const c = await open();
    const options = [OPT.LIST, OPT.LIST, 0, OPT.STRUCTURED_REPLY, OPT.LIST];
    await new Promise((resolve) => setImmediate(resolve));
    c.write(Buffer.concat([clientFlags(), ...options.map((o) => encodeOption(o)), encodeOption(0x1000007, infoData("disk")), Buffer.from("GARBAGE GARBAGE!")]));
    await new Promise((resolve) => setImmediate(resolve));
    c.write(Buffer.alloc(12)); // more input, which the server never reads
    const got = await expectClosed(c);
    const rest = RawClient.fromBytes(got);
    for (const o of options) assert.equal((await rest.readOptionReplies(o)).at(-1)!.type, o === 0 ? REP.ERR_UNSUP : REP.ACK);
    assert.ok(rest.bufferedBytes > 0, "the answer to the last option before the garbage was lost");
    assert.equal(errorReply(await rest.readOptionReplies(0x1000007)), REP.ERR_UNSUP);
  });

  it("hangs up on a bad option magic", async () => {
    const c = await open();
    c.write(clientFlags());
    const bad = encodeOption(OPT.LIST);
    bad[0] = 0;
    c.write(bad);
    assert.equal((await expectClosed(c)).length, 0);
  });
});

// ---------------------------------------------------------------- transmission

describe("NBD server: commands", () => {
  const SIZE = 1 * MiB;
  const disk = new WatchedDevice(SIZE);
  const ro = new WatchedDevice(256 * KiB, { readOnly: true });
  let s: Served & { close(): Promise<void>; lines: Lines };
  const clients: RawClient[] = [];
  const session = async (name: string, options: { structured?: boolean; meta?: boolean } = {}) => {
    const r = await RawClient.session(s.port, name, options);
    clients.push(r.client);
    return r.client;
  };

  before(async () => {
    await ro.inner.write(0, pattern(256 * KiB, 9));
    s = await serve([{ name: "disk", device: disk }, { name: "ro", device: ro }]);
  });
  after(async () => {
    for (const c of clients) c.close();
    await s.close();
    assert.deepEqual(disk.violations, []);
    assert.deepEqual(ro.violations, []);
  });

  it("WRITE then READ, aligned and not, simple replies", async () => {
    const c = await session("disk");
    for (const [offset, length] of [[0, 4096], [4095, 3], [65530, 100], [SIZE - 1, 1], [123_456, 200_000]] as const) {
      const data = pattern(length, offset);
      await c.writeBytes(offset, data);
      assert.ok((await c.readBytes(offset, length)).equals(data), `${offset}+${length}`);
    }
    const many = await Promise.all(Array.from({ length: 50 }, (_, i) => c.readBytes(i * 4096, 4096)));
    assert.equal(many.length, 50);
  });

  it("WRITE with FUA is durable at once; FLUSH makes earlier writes durable", async () => {
    const c = await session("disk");
    const a = pattern(4096, 1);
    const b = pattern(4096, 2);
    await c.writeBytes(0, a, CMDFLAG.FUA);
    assert.ok((await disk.durable.read(0, 4096)).equals(a), "FUA write is durable");
    await c.writeBytes(8192, b);
    assert.equal((await c.request({ type: CMD.FLUSH })).errno, 0);
    assert.ok((await disk.durable.read(8192, 4096)).equals(b), "flushed write is durable");
  });

  it("TRIM and WRITE_ZEROES (NO_HOLE, FAST_ZERO, FUA) read back as zeroes", async () => {
    const c = await session("disk");
    await c.writeBytes(0, pattern(256 * KiB, 3));
    assert.equal((await c.request({ type: CMD.TRIM, offset: 0, length: 64 * KiB })).errno, 0);
    assert.ok((await c.readBytes(0, 64 * KiB)).equals(Buffer.alloc(64 * KiB)));
    const before = disk.calls.flush;
    assert.equal((await c.request({ type: CMD.TRIM, offset: 64 * KiB, length: 100, flags: CMDFLAG.FUA })).errno, 0);
    assert.ok(disk.calls.flush > before, "TRIM with FUA flushes");
    disk.zeroOptions.length = 0;
    for (const flags of [0, CMDFLAG.NO_HOLE, CMDFLAG.FAST_ZERO, CMDFLAG.FUA | CMDFLAG.NO_HOLE]) {
      await c.writeBytes(128 * KiB, pattern(1000, flags));
      assert.equal((await c.request({ type: CMD.WRITE_ZEROES, offset: 128 * KiB, length: 1000, flags })).errno, 0);
      assert.ok((await c.readBytes(128 * KiB, 1000)).equals(Buffer.alloc(1000)), `flags ${flags}`);
    }
    assert.deepEqual(disk.zeroOptions.map((o) => [!!o.noHole, !!o.fast, !!o.fua]), [
      [false, false, false],
      [true, false, false],
      [false, true, false],
      [true, false, true],
    ]);
    assert.ok((await disk.durable.read(128 * KiB, 1000)).equals(Buffer.alloc(1000)), "WRITE_ZEROES with FUA is durable");
  });

  it("CACHE and FLUSH succeed", async () => {
    const c = await session("disk");
    assert.equal((await c.request({ type: CMD.CACHE, offset: 0, length: SIZE })).errno, 0);
    assert.equal((await c.request({ type: CMD.FLUSH })).errno, 0);
  });

  it("out of range: EINVAL for READ, TRIM, CACHE, BLOCK_STATUS; ENOSPC for WRITE and WRITE_ZEROES; nothing lands", async () => {
    const c = await session("disk");
    const m = await session("disk", { meta: true });
    const allocated = disk.inner.allocatedBytes;
    const tail = await c.readBytes(SIZE - 4096, 4096);
    const cases: [number, number | bigint, number, number][] = [
      [CMD.READ, SIZE, 1, E.EINVAL],
      [CMD.READ, SIZE - 1, 2, E.EINVAL],
      [CMD.READ, 2n ** 63n, 512, E.EINVAL],
      [CMD.READ, 2n ** 64n - 1n, 1, E.EINVAL],
      [CMD.TRIM, SIZE - 4096, 8192, E.EINVAL],
      [CMD.CACHE, SIZE, 4096, E.EINVAL],
      [CMD.WRITE_ZEROES, SIZE - 1, 2, E.ENOSPC],
      [CMD.WRITE_ZEROES, 2n ** 62n, 4096, E.ENOSPC],
    ];
    for (const [type, offset, length, errno] of cases) {
      const r = await c.request({ type, offset, length });
      assert.equal(r.errno, errno, `command ${type} at ${offset}+${length}`);
    }
    for (const [offset, length] of [[SIZE, 1], [SIZE - 100, 101], [2n ** 63n, 4096], [2n ** 64n - 4096n, 4096]] as const) {
      const r = await c.request({ type: CMD.WRITE, offset, data: Buffer.alloc(length, 0xee) });
      assert.equal(r.errno, E.ENOSPC, `WRITE at ${offset}+${length}`);
    }
    const bs = await m.request({ type: CMD.BLOCK_STATUS, offset: SIZE - 10, length: 11 });
    assert.equal(bs.errno, E.EINVAL);
    assert.equal(bs.chunks[0]!.type, CHUNK.ERROR);
    const sr = await m.request({ type: CMD.READ, offset: SIZE, length: 1 });
    assert.deepEqual([sr.structured, sr.errno, sr.chunks.length, sr.chunks[0]!.type], [true, E.EINVAL, 1, CHUNK.ERROR]);
    assert.equal(disk.inner.allocatedBytes, allocated, "no chunk appeared past the end");
    assert.ok((await c.readBytes(SIZE - 4096, 4096)).equals(tail));
    assert.equal(disk.size, SIZE);
  });

  it("refuses length 0, READ over 32 MiB, unknown commands and flags with EINVAL, and goes on", async () => {
    const c = await session("disk");
    const cases: [number, number, number][] = [
      [CMD.READ, 0, 0],
      [CMD.TRIM, 0, 0],
      [CMD.WRITE_ZEROES, 0, 0],
      [CMD.WRITE, 0, 0],
      [CMD.READ, 32 * MiB + 1, 0],
      [8, 4096, 0], // RESIZE, not offered
      [9, 4096, 0],
      [0xffff, 4096, 0],
      [CMD.READ, 4096, CMDFLAG.NO_HOLE],
      [CMD.WRITE_ZEROES, 4096, CMDFLAG.REQ_ONE],
      [CMD.FLUSH, 0, CMDFLAG.FUA | 0x8000],
    ];
    for (const [type, length, flags] of cases) {
      const r = await c.request({ type, offset: 0, length, flags });
      assert.equal(r.errno, E.EINVAL, `command ${type} length ${length} flags ${flags}`);
    }
    assert.ok((await c.readBytes(0, 10)).length === 10, "the connection goes on");
  });

  it("a read-only export answers WRITE, TRIM and WRITE_ZEROES with EPERM, and serves reads", async () => {
    const c = await session("ro");
    const want = pattern(256 * KiB, 9);
    assert.equal((await c.request({ type: CMD.WRITE, offset: 0, data: Buffer.alloc(4096, 1) })).errno, E.EPERM);
    assert.equal((await c.request({ type: CMD.WRITE, offset: 0, data: Buffer.alloc(4096, 1), flags: CMDFLAG.FUA })).errno, E.EPERM);
    assert.equal((await c.request({ type: CMD.TRIM, offset: 0, length: 4096 })).errno, E.EPERM);
    assert.equal((await c.request({ type: CMD.WRITE_ZEROES, offset: 0, length: 4096 })).errno, E.EPERM);
    assert.equal((await c.request({ type: CMD.FLUSH })).errno, 0);
    assert.ok((await c.readBytes(0, 256 * KiB)).equals(want));
    assert.equal(ro.calls.write + ro.calls.trim + ro.calls.writeZeroes, 0);
  });

  it("BLOCK_STATUS without base:allocation is EINVAL (simple and structured)", async () => {
    const simple = await session("disk");
    assert.equal((await simple.request({ type: CMD.BLOCK_STATUS, offset: 0, length: 4096 })).errno, E.EINVAL);
    const structured = await session("disk", { structured: true });
    const r = await structured.request({ type: CMD.BLOCK_STATUS, offset: 0, length: 4096 });
    assert.deepEqual([r.errno, r.chunks.length, r.chunks[0]!.type], [E.EINVAL, 1, CHUNK.ERROR]);
  });

  it("BLOCK_STATUS reports holes and data truthfully; REQ_ONE gives one extent within the request", async () => {
    const dev = new WatchedDevice(4 * MiB);
    await dev.inner.write(1 * MiB, pattern(128 * KiB, 5));
    const t = await serve([{ name: "sparse", device: dev }]);
    const { client: c } = await RawClient.session(t.port, "sparse", { meta: true });
    try {
      const r = await c.request({ type: CMD.BLOCK_STATUS, offset: 0, length: 4 * MiB });
      assert.equal(r.errno, 0);
      assert.equal(r.chunks.length, 1);
      assert.equal(r.chunks[0]!.flags & 1, 1);
      assert.deepEqual(r.chunks[0]!.extents, [
        { length: 1 * MiB, flags: 3 },
        { length: 128 * KiB, flags: 0 },
        { length: 3 * MiB - 128 * KiB, flags: 3 },
      ]);
      const one = await c.request({ type: CMD.BLOCK_STATUS, offset: 512 * KiB, length: 1 * MiB, flags: CMDFLAG.REQ_ONE });
      assert.deepEqual(one.chunks[0]!.extents, [{ length: 512 * KiB, flags: 3 }]);
      const inside = await c.request({ type: CMD.BLOCK_STATUS, offset: 1 * MiB + 100, length: 1000, flags: CMDFLAG.REQ_ONE });
      assert.equal(inside.chunks[0]!.extents!.length, 1);
      assert.ok(inside.chunks[0]!.extents![0]!.length <= 1000);
      assert.equal(inside.chunks[0]!.extents![0]!.flags, 0);
    } finally {
      c.close();
      await t.close();
    }
  });

  it("a structured READ of sparse data gives hole chunks; with DF, one data chunk", async () => {
    const dev = new WatchedDevice(2 * MiB);
    const data = pattern(64 * KiB, 6);
    await dev.inner.write(512 * KiB, data);
    const t = await serve([{ name: "sparse", device: dev }]);
    const { client: c, flags } = await RawClient.session(t.port, "sparse", { structured: true });
    try {
      assert.ok(flags & TFLAG.SEND_DF);
      const r = await c.readCmd(0, 2 * MiB);
      assert.equal(r.errno, 0);
      assert.deepEqual(r.chunks.map((x) => [x.type, x.offset, x.holeLength ?? x.data!.length]), [
        [CHUNK.OFFSET_HOLE, 0, 512 * KiB],
        [CHUNK.OFFSET_DATA, 512 * KiB, 64 * KiB],
        [CHUNK.OFFSET_HOLE, 576 * KiB, 2 * MiB - 576 * KiB],
      ]);
      assert.deepEqual(r.chunks.map((x) => x.flags & 1), [0, 0, 1], "DONE on the last chunk only");
      const want = Buffer.alloc(2 * MiB);
      data.copy(want, 512 * KiB);
      assert.ok(assembleRead(r, 0, 2 * MiB).equals(want));
      const df = await c.readCmd(0, 2 * MiB, CMDFLAG.DF);
      assert.deepEqual(df.chunks.map((x) => [x.type, x.offset, x.data?.length]), [[CHUNK.OFFSET_DATA, 0, 2 * MiB]]);
      assert.ok(assembleRead(df, 0, 2 * MiB).equals(want));
      const small = await c.readCmd(500 * KiB, 100);
      assert.ok(assembleRead(small, 500 * KiB, 100).equals(want.subarray(500 * KiB, 500 * KiB + 100)));
    } finally {
      c.close();
      await t.close();
    }
  });

  it("a bad request magic closes that connection only", async () => {
    const bad = await session("disk");
    const good = await session("disk");
    bad.write(encodeRequest({ type: CMD.READ, length: 512, magic: 0x12345678 }));
    assert.equal((await expectClosed(bad)).length, 0);
    assert.equal((await good.readBytes(0, 512)).length, 512);
    assert.ok(s.lines.some((l) => /^warn: .*bad request magic 0x12345678/.test(l)), "a log line says why");
  });

  it("a WRITE over 32 MiB closes that connection only, before its data arrives", async () => {
    const bad = await session("disk");
    const good = await session("disk");
    bad.write(encodeRequest({ type: CMD.WRITE, offset: 0, length: 32 * MiB + 1 }));
    await expectClosed(bad);
    await good.writeBytes(0, Buffer.alloc(10, 1));
    assert.ok(s.lines.some((l) => /^warn: .*33554433 bytes is over the 33554432-byte limit/.test(l)), "a log line says why");
  });

  it("a WRITE of exactly 32 MiB is served", async () => {
    const dev = new WatchedDevice(64 * MiB);
    const t = await serve([{ name: "big", device: dev }]);
    const { client: c } = await RawClient.session(t.port, "big");
    try {
      const data = pattern(32 * MiB, 7);
      await c.writeBytes(16 * MiB, data);
      assert.ok((await c.readBytes(16 * MiB, 32 * MiB)).equals(data));
    } finally {
      c.close();
      await t.close();
    }
  });
});

// ---------------------------------------------------------------- concurrency

describe("NBD server: concurrency", () => {
  it("requests may complete out of order; every cookie gets exactly one reply", async () => {
    const dev = new WatchedDevice(1 * MiB);
    const t = await serve([{ name: "d", device: dev }]);
    const { client: c } = await RawClient.session(t.port, "d");
    try {
      dev.gatedRead = (offset) => offset === 0;
      dev.readGate.close();
      const slow = c.request({ type: CMD.READ, cookie: 1000n, offset: 0, length: 4096 });
      await dev.started("read", 1);
      const fast = await c.request({ type: CMD.READ, cookie: 1001n, offset: 4096, length: 4096 });
      assert.equal(fast.errno, 0);
      dev.readGate.open();
      assert.equal((await slow).errno, 0);
      assert.deepEqual(c.replyOrder.slice(-2), [1001n, 1000n]);

      // Many mixed requests at once, with cookies that look alike in either half.
      dev.gatedRead = (offset) => offset % (8 * 4096) === 0;
      dev.readGate.close();
      const reqs = [];
      for (let i = 0; i < 200; i++) {
        const cookie = (BigInt(i % 7) << 32n) | BigInt(i);
        const offset = (i % 64) * 4096;
        const kind = i % 5;
        if (kind === 0) reqs.push(c.request({ type: CMD.WRITE, cookie, offset, data: pattern(4096, i) }));
        else if (kind === 1) reqs.push(c.request({ type: CMD.FLUSH, cookie }));
        else if (kind === 2) reqs.push(c.request({ type: CMD.READ, cookie, offset: SIZE_OOR, length: 1 }));
        else reqs.push(c.request({ type: CMD.READ, cookie, offset, length: 4096 }));
      }
      await dev.started("read", 2);
      dev.readGate.open();
      const replies = await Promise.all(reqs);
      assert.equal(replies.length, 200);
      const order = c.replyOrder.slice(-200);
      assert.equal(new Set(order).size, 200, "each cookie answered once");
      assert.equal(c.inFlight, 0);
      replies.forEach((r, i) => assert.equal(r.errno, i % 5 === 2 ? E.EINVAL : 0));
      // Nothing more arrives: a request that follows is answered next.
      assert.equal((await c.request({ type: CMD.FLUSH, cookie: 5n })).errno, 0);
      assert.equal(c.bufferedBytes, 0);
    } finally {
      c.close();
      await t.close();
    }
  });

  it("DISC with requests in flight: they finish and are answered, then the server hangs up", async () => {
    const dev = new WatchedDevice(1 * MiB);
    const t = await serve([{ name: "d", device: dev }]);
    const { client: c } = await RawClient.session(t.port, "d");
    try {
      dev.writeGate.close();
      const writes = [0, 1, 2].map((i) => c.request({ type: CMD.WRITE, offset: i * 4096, data: pattern(4096, 100 + i) }));
      await dev.started("write", 3);
      c.disconnect();
      dev.writeGate.open();
      const replies = await Promise.all(writes);
      assert.deepEqual(replies.map((r) => r.errno), [0, 0, 0]);
      await expectClosed(c);
      for (let i = 0; i < 3; i++) assert.ok((await dev.inner.read(i * 4096, 4096)).equals(pattern(4096, 100 + i)));
    } finally {
      c.close();
      await t.close();
    }
  });

  it("multi-conn: a write completed on one connection is made durable by a FLUSH on another", async () => {
    const dev = new WatchedDevice(1 * MiB);
    const t = await serve([{ name: "d", device: dev }]);
    const a = (await RawClient.session(t.port, "d")).client;
    const b = (await RawClient.session(t.port, "d")).client;
    try {
      const data = pattern(64 * KiB, 11);
      await a.writeBytes(100 * KiB, data);
      assert.ok(!(await dev.durable.read(100 * KiB, 64 * KiB)).equals(data), "not durable before the flush");
      assert.ok((await b.readBytes(100 * KiB, 64 * KiB)).equals(data), "visible on the other connection");
      assert.equal((await b.request({ type: CMD.FLUSH })).errno, 0);
      assert.ok((await dev.durable.read(100 * KiB, 64 * KiB)).equals(data), "durable after B's flush");
    } finally {
      a.close();
      b.close();
      await t.close();
    }
  });

  it("server.close(): stops accepting, answers requests in flight, then hangs up", async () => {
    const dev = new WatchedDevice(1 * MiB);
    const t = await serve([{ name: "d", device: dev }]);
    const { client: c } = await RawClient.session(t.port, "d");
    const idle = (await RawClient.session(t.port, "d")).client;
    const handshaking = await RawClient.open(t.port);
    try {
      dev.writeGate.close();
      dev.readGate.close();
      const w = c.request({ type: CMD.WRITE, offset: 0, data: pattern(8192, 1) });
      const r = c.request({ type: CMD.READ, offset: 8192, length: 4096 });
      await dev.started("write", 1);
      await dev.started("read", 1);
      const closing = t.close();
      await assert.rejects(RawClient.connect(t.port), /ECONNREFUSED/);
      await expectClosed(handshaking);
      await expectClosed(idle);
      dev.writeGate.open();
      dev.readGate.open();
      assert.equal((await w).errno, 0);
      assert.equal((await r).errno, 0);
      await expectClosed(c);
      assert.equal(await hangs(closing), "done");
      assert.ok((await dev.inner.read(0, 8192)).equals(pattern(8192, 1)));
    } finally {
      c.close();
      idle.close();
      handshaking.close();
    }
  });

  it("while hanging up, the server reads on and sees the client hang up, even if its socket was paused meanwhile", {
  }, async () => {
    // While hanging up (DISC, close(), garbage) the server reads on, to see the
    // client's close. If something pauses the socket meanwhile (replies backing
    // up, or a request's bytes counted in flight), it must read again once that
    // clears; else the client's close goes unseen until the drain timeout.
    {
      // server.close() while replies back up in the server's socket
      const dev = new WatchedDevice(16 * MiB);
      const t = await serve([{ name: "d", device: dev }], { maxQueuedReplyBytes: 1 * MiB });
      const { client: c } = await RawClient.session(t.port, "d");
      try {
        c.socket.pause();
        dev.readGate.close();
        const replies = Array.from({ length: 8 }, (_, i) => c.request({ type: CMD.READ, offset: i * MiB, length: 1 * MiB }));
        await dev.started("read", 8);
        const closing = t.close();
        dev.readGate.open();
        await delay(50); // the replies back up in the server's socket
        c.socket.resume();
        assert.ok((await Promise.all(replies)).every((r) => r.errno === 0));
        await expectClosed(c);
        assert.equal(await settled(() => t.server.connectionCount), 0, "close(): the server did not see the client hang up");
        assert.equal(await hangs(closing), "done");
      } finally {
        c.close();
      }
    }
    {
      // DISC, then (against the protocol) a READ of 4 GiB, which counts against the in-flight bytes
      const t = await serve([{ name: "d", device: new WatchedDevice(1 * MiB) }]);
      const { client: c } = await RawClient.session(t.port, "d");
      try {
        c.write(Buffer.concat([encodeRequest({ type: CMD.DISC, cookie: 1n }), encodeRequest({ type: CMD.READ, cookie: 2n, length: 0xffffffff })]));
        await c.readToEnd();
        c.close();
        await c.closed;
        assert.equal(await settled(() => t.server.connectionCount), 0, "DISC: the server did not see the client hang up");
      } finally {
        c.close();
        await t.close();
      }
    }
  });

  it("server.close() returns when a client hangs up while its requests are still running", async () => {
    // close() drains the connection (waits for its requests); meanwhile the client
    // is gone, the server sees it when its replies bounce (EPIPE), and the
    // connection's close waits for the same requests. Both waits must end.
    const dev = new WatchedDevice(1 * MiB);
    const t = await serve([{ name: "d", device: dev }]);
    const { client: c } = await RawClient.session(t.port, "d");
    dev.writeGate.close();
    dev.readGate.close();
    void c.request({ type: CMD.WRITE, offset: 0, data: pattern(4096, 1) }).catch(() => {});
    for (let i = 0; i < 10; i++) void c.request({ type: CMD.READ, offset: i * 64 * KiB, length: 64 * KiB }).catch(() => {});
    await dev.started("write", 1);
    await dev.started("read", 10);
    const closing = t.close();
    c.close();
    await c.closed;
    await delay(50);
    dev.readGate.open(); // replies to a client that is gone: the server learns it has hung up
    await delay(50);
    dev.writeGate.open();
    assert.equal(await hangs(closing), "done", "server.close() never returned");
    assert.equal(t.server.connectionCount, 0);
  });
});

// ---------------------------------------------------------------- memory bounds

describe("NBD server: export lifetimes", () => {
  /** A provider that opens exports asynchronously (as on-demand views do) and counts opens and releases. */
  function slowProvider(exp: NbdExport) {
    const gate = new Gate();
    const counts = { opened: 0, released: 0 };
    let asked: () => void = () => {};
    const askedFor = new Promise<void>((resolve) => (asked = resolve));
    const provider: ExportProvider = {
      list: () => [exp.name],
      open: async (name) => {
        asked();
        await gate.pass();
        if (name !== exp.name) return undefined;
        counts.opened++;
        return exp;
      },
      release: () => void counts.released++,
    };
    return { provider, gate, counts, askedFor };
  }

  it("every export opened is released: after INFO, and after a session", async () => {
    const { provider, counts } = slowProvider({ name: "d", device: new WatchedDevice(64 * KiB) });
    const t = await serve([], undefined, provider);
    try {
      const c = await RawClient.open(t.port);
      c.write(clientFlags());
      await c.option(OPT.INFO, infoData("d"));
      assert.deepEqual(counts, { opened: 1, released: 1 });
      await c.go("d");
      c.disconnect();
      await expectClosed(c);
      await waitUntil(() => t.server.connectionCount === 0);
      assert.deepEqual(counts, { opened: 2, released: 2 });
    } finally {
      await t.close();
    }
  });

  for (const how of ["the client hangs up", "the server closes"] as const) {
    it(`an export opened for GO is released when ${how} while it is being opened`, async () => {
      const { provider, gate, counts, askedFor } = slowProvider({ name: "d", device: new WatchedDevice(64 * KiB) });
      const t = await serve([], undefined, provider);
      const c = await RawClient.open(t.port);
      try {
        gate.close();
        c.write(Buffer.concat([clientFlags(), encodeOption(OPT.GO, infoData("d"))]));
        await askedFor;
        const closing = how === "the server closes" ? t.close() : null;
        if (!closing) c.close();
        await c.closed;
        await delay(20); // let the server see the hang-up before the export opens
        gate.open();
        if (closing) assert.equal(await hangs(closing), "done");
        await waitUntil(() => t.server.connectionCount === 0);
        await delay(20);
        assert.equal(counts.opened, 1);
        assert.equal(counts.released, counts.opened, "an opened export was never released");
      } finally {
        c.close();
        await t.close();
      }
    });
  }
});

describe("NBD server: pooled buffers", () => {
  it("large READs and WRITEs in flight on several connections, with clients reading slowly, return the right bytes", async () => {
    // Reply and request buffers come from a pool and go back once sent: a buffer
    // reused too early would put another request's bytes on the wire.
    const SLOT = 2 * MiB;
    const SLOTS = 8;
    const CONNS = 3;
    const dev = new WatchedDevice(CONNS * SLOTS * SLOT);
    const model = pattern(dev.size, 21);
    await dev.inner.write(0, model);
    const t = await serve([{ name: "d", device: dev }]);
    let x = 12345;
    const rand = (n: number) => ((x = (x * 1103515245 + 12345) >>> 0) % n);
    try {
      await Promise.all(
        Array.from({ length: CONNS }, async (_, conn) => {
          const { client: c } = await RawClient.session(t.port, "d", { structured: conn === 1 });
          const busy = new Set<number>();
          const ops: Promise<void>[] = [];
          for (let i = 0; i < 120; i++) {
            let slot = rand(SLOTS);
            while (busy.has(slot)) slot = (slot + 1) % SLOTS;
            busy.add(slot);
            const base = (conn * SLOTS + slot) * SLOT;
            const offset = base + rand(SLOT / 2);
            const length = 1 + rand(SLOT / 2);
            if (rand(2) === 0) {
              const data = pattern(length, i * 7 + conn);
              ops.push(c.writeBytes(offset, data).then(() => {
                data.copy(model, offset);
                busy.delete(slot);
              }));
            } else {
              ops.push(c.readBytes(offset, length).then((got) => {
                assert.ok(got.equals(model.subarray(offset, offset + length)), `READ ${offset}+${length} on connection ${conn}`);
                busy.delete(slot);
              }));
            }
            if (busy.size === SLOTS) await Promise.race(ops);
            while (busy.size === SLOTS) await delay(1);
            if (i % 15 === 0) {
              c.socket.pause(); // replies back up in the server's socket
              await delay(5);
              c.socket.resume();
            }
          }
          await Promise.all(ops);
          c.disconnect();
          await expectClosed(c);
        }),
      );
      assert.ok((await dev.inner.read(0, dev.size)).equals(model), "the disk holds what was written");
    } finally {
      await t.close();
    }
  });
});

describe("NBD server: clients that stall", () => {
  it("a client that stalls in the handshake is cut off; one in transmission is not", async () => {
    const t = await serve([{ name: "d", device: new WatchedDevice(64 * KiB) }], { handshakeTimeoutMs: 100 });
    const { client: served } = await RawClient.session(t.port, "d");
    try {
      const silent = await RawClient.open(t.port);
      await expectClosed(silent);
      const halfway = await RawClient.open(t.port);
      halfway.write(clientFlags());
      halfway.write(encodeOption(OPT.LIST).subarray(0, 10));
      await expectClosed(halfway);
      assert.ok(t.lines.some((l) => /handshake took too long/.test(l)));
      await delay(300); // past the handshake timeout: a session in transmission keeps going
      assert.equal((await served.readBytes(0, 4096)).length, 4096);
    } finally {
      served.close();
      await t.close();
    }
  });

  it("server.close() returns even when a client never reads its replies", async () => {
    const dev = new WatchedDevice(64 * MiB);
    const t = await serve([{ name: "d", device: dev }], { maxQueuedReplyBytes: 1 * MiB });
    const { client: stuck } = await RawClient.session(t.port, "d");
    try {
      stuck.socket.pause();
      for (let i = 0; i < 64; i++) stuck.write(encodeRequest({ type: CMD.READ, cookie: BigInt(i + 1), offset: i * MiB, length: 1 * MiB }));
      await dev.started("read", 2);
      assert.equal(await hangs(t.close(), 20_000), "done", "server.close() never returned");
    } finally {
      stuck.close();
    }
  });
});

describe("NBD server: memory stays bounded", () => {
  const limits: Partial<ConnectionLimits> = {
    maxInflightRequests: 16,
    maxInflightBytes: 4 * MiB,
    maxQueuedReplyBytes: 2 * MiB,
  };

  it("a client that never reads its replies: the server stops reading from it; others are unaffected", async () => {
    const dev = new WatchedDevice(64 * MiB);
    const t = await serve([{ name: "d", device: dev }], limits);
    const { client: stuck } = await RawClient.session(t.port, "d");
    const { client: other } = await RawClient.session(t.port, "d");
    try {
      stuck.socket.pause(); // it never reads
      const N = 300;
      const sock = stuck.socket;
      // READs of 1 MiB, each in its own packet (a burst in one packet is the next test's business).
      for (let i = 0; i < N; i++) {
        sock.write(encodeRequest({ type: CMD.READ, cookie: BigInt(i + 1), offset: (i % 64) * MiB, length: 1 * MiB }));
        await delay(1);
      }
      const served = await settled(() => dev.calls.read);
      assert.ok(served < 64, `the server read ${served} MiB for a client that reads nothing`);
      // Others are served as usual meanwhile.
      const data = pattern(128 * KiB, 3);
      await other.writeBytes(5 * MiB, data);
      assert.ok((await other.readBytes(5 * MiB, 128 * KiB)).equals(data));
      // Once it reads again, it gets every reply.
      const replies = Array.from({ length: N }, (_, i) => stuck.expect(BigInt(i + 1), CMD.READ, 1 * MiB));
      sock.resume();
      assert.ok((await Promise.all(replies)).every((r) => r.errno === 0 && r.data!.length === MiB));
    } finally {
      stuck.close();
      other.close();
      await t.close();
    }
  });

  it("a burst of requests in one packet is held to the in-flight limit", async () => {
    const dev = new WatchedDevice(64 * MiB);
    const t = await serve([{ name: "d", device: dev }], limits);
    const { client: c } = await RawClient.session(t.port, "d");
    try {
      dev.readGate.close();
      const N = 200;
      const burst = Buffer.concat(Array.from({ length: N }, (_, i) => encodeRequest({ type: CMD.READ, cookie: BigInt(i + 1), offset: i * 4096, length: 4096 })));
      const replies = Array.from({ length: N }, (_, i) => c.expect(BigInt(i + 1), CMD.READ, 4096));
      c.write(burst); // 5600 bytes: one chunk for the server
      await dev.started("read", 1);
      const started = await settled(() => dev.calls.read);
      dev.readGate.open();
      assert.equal((await Promise.all(replies)).length, N);
      assert.ok(started <= 16, `${started} READs in flight at once; the limit is 16`);
    } finally {
      c.close();
      await t.close();
    }
  });

  it("a burst of large READs in one packet is held to the in-flight byte limit", async () => {
    const dev = new WatchedDevice(64 * MiB);
    const t = await serve([{ name: "d", device: dev }], limits);
    const { client: c } = await RawClient.session(t.port, "d");
    try {
      dev.readGate.close();
      const N = 64;
      const burst = Buffer.concat(Array.from({ length: N }, (_, i) => encodeRequest({ type: CMD.READ, cookie: BigInt(i + 1), offset: (i % 32) * MiB, length: 1 * MiB })));
      const replies = Array.from({ length: N }, (_, i) => c.expect(BigInt(i + 1), CMD.READ, 1 * MiB));
      c.write(burst);
      await dev.started("read", 1);
      const started = await settled(() => dev.calls.read);
      dev.readGate.open();
      assert.equal((await Promise.all(replies)).length, N);
      assert.ok(started <= 4, `${started} MiB of READs in flight at once; the limit is 4 MiB`);
    } finally {
      c.close();
      await t.close();
    }
  });

  it("a burst that ends in garbage past the in-flight limit: every request before it is answered, then the server hangs up", async () => {
    const dev = new WatchedDevice(64 * MiB);
    const t = await serve([{ name: "d", device: dev }], limits);
    const { client: c } = await RawClient.session(t.port, "d");
    const other = (await RawClient.session(t.port, "d")).client;
    try {
      dev.readGate.close();
      const N = 100;
      const burst = Buffer.concat([
        ...Array.from({ length: N }, (_, i) => encodeRequest({ type: CMD.READ, cookie: BigInt(i + 1), offset: i * 4096, length: 4096 })),
        Buffer.from("this is not an NBD request, not at all"),
      ]);
      const replies = Array.from({ length: N }, (_, i) => c.expect(BigInt(i + 1), CMD.READ, 4096));
      c.write(burst);
      await dev.started("read", 16);
      dev.readGate.open();
      const got = await Promise.all(replies);
      assert.ok(got.every((r) => r.errno === 0 && r.data!.length === 4096));
      await expectClosed(c);
      assert.ok(t.lines.some((l) => /bad request magic/.test(l)));
      assert.equal((await other.readBytes(0, 4096)).length, 4096);
    } finally {
      c.close();
      other.close();
      await t.close();
    }
  });

  it("a client that reads its option replies late gets them all, then goes on", async () => {
    const dev = new WatchedDevice(64 * KiB);
    const names = ["a", "b", "c", "d"].map((x) => x.repeat(1000));
    const statics = new StaticExports();
    for (const name of names) statics.add({ name, device: dev });
    const t = await serve([], { ...limits, maxQueuedReplyBytes: 64 * KiB }, statics);
    const c = await RawClient.open(t.port);
    try {
      c.socket.pause();
      const N = 600; // 4 KiB of replies each
      c.write(Buffer.concat([clientFlags(), ...Array.from({ length: N }, () => encodeOption(OPT.LIST))]));
      await delay(100);
      c.socket.resume();
      for (let i = 0; i < N; i++) {
        const r = await c.readOptionReplies(OPT.LIST);
        assert.equal(r.length, 5, `LIST ${i}`);
      }
      assert.equal((await c.go(names[2]!)).size, 64 * KiB);
    } finally {
      c.close();
      await t.close();
    }
  });

  it("a client that never reads its option replies: the server stops reading options", async () => {
    const dev = new WatchedDevice(64 * KiB);
    const names = ["a", "b", "c", "d"].map((x) => x.repeat(16 * KiB));
    let lists = 0;
    const statics = new StaticExports();
    for (const name of names) statics.add({ name, device: dev });
    const provider: ExportProvider = { list: () => (lists++, statics.list()), open: (n) => statics.open(n) };
    const t = await serve([], limits, provider);
    const c = await RawClient.open(t.port);
    const other = await RawClient.open(t.port);
    try {
      c.socket.pause();
      c.write(clientFlags());
      const N = 2000; // each LIST is 16 bytes in and 64 KiB out
      const sock = c.socket;
      for (let i = 0; i < N; i += 100) {
        const ok = sock.write(Buffer.concat(Array.from({ length: 100 }, () => encodeOption(OPT.LIST))));
        if (!ok && (await hangs(new Promise((resolve) => sock.once("drain", resolve)), 2000)) === "hung") break;
      }
      const answered = await settled(() => lists);
      assert.ok(answered < 1000, `the server answered ${answered} LISTs (${answered * 64} KiB) to a client that reads nothing`);
      other.write(clientFlags());
      assert.equal((await other.option(OPT.LIST)).length, 5, "others are served");
    } finally {
      c.close();
      other.close();
      await t.close();
    }
  });
});
