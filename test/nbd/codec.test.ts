/**
 * The NBD server's pure codecs, without a socket: the handshake's option
 * reader, the transmission's request reader (split at every byte boundary),
 * the handshake's encoders and option-data parsers, and the reply encoders.
 * Expected bytes come from test/nbd/client.ts, written from doc/proto.md.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { OptionReader, type HandshakeItem } from "../../src/nbd/option-reader.js";
import { RequestReader, type NbdRequest } from "../../src/nbd/request-reader.js";
import { BufferPool } from "../../src/nbd/buffer-pool.js";
import {
  exportNameReply,
  greeting,
  infoBlockSize,
  infoExport,
  infoString,
  metaContextEntry,
  optionError,
  optionReply,
  OptionDataError,
  parseInfoRequest,
  parseMetaContextRequest,
  serverEntry,
} from "../../src/nbd/handshake.js";
import {
  blockStatusChunk,
  errorChunk,
  noneChunk,
  offsetHoleChunk,
  OFFSET_DATA_HEADER_BYTES,
  simpleReply,
  writeOffsetDataHeader,
} from "../../src/nbd/replies.js";
import { NbdProtocolError, NbdRequestError, toErrno } from "../../src/nbd/errors.js";
import { DeviceIoError, NoSpaceError, NotSupportedError, ReadOnlyError } from "../../src/blockdev/index.js";
import {
  CHUNK,
  CMD,
  INFO,
  NBDMAGIC,
  IHAVEOPT,
  OPTION_REPLY_MAGIC,
  REP,
  SIMPLE_REPLY_MAGIC,
  STRUCTURED_REPLY_MAGIC,
  clientFlags,
  encodeOption,
  encodeRequest,
  infoData,
  metaData,
  parseChunk,
} from "./client.js";

const MiB = 1024 * 1024;

/** Feeds `chunks` one by one, taking every item that becomes available after each. */
function readOptions(reader: OptionReader, chunks: Buffer[]): HandshakeItem[] {
  const items: HandshakeItem[] = [];
  for (const chunk of chunks) {
    reader.feed(chunk);
    for (let item = reader.take(); item; item = reader.take()) items.push(item);
  }
  return items;
}

/** Every way of cutting `b` in two, plus byte by byte. */
function splits(b: Buffer): Buffer[][] {
  const out: Buffer[][] = [];
  for (let i = 0; i <= b.length; i++) out.push([b.subarray(0, i), b.subarray(i)]);
  out.push([...b].map((byte) => Buffer.from([byte])));
  return out;
}

/** A request as plain data, its WRITE payload copied (a view is only valid until its reply). */
function plain(r: NbdRequest) {
  const { flags, type, cookieHi, cookieLo, offset, length } = r;
  return { flags, type, cookieHi, cookieLo, offset, length, data: r.data ? Buffer.from(r.data) : null };
}

function readRequests(chunks: Buffer[]): ReturnType<typeof plain>[] {
  const got: ReturnType<typeof plain>[] = [];
  const reader = new RequestReader((r) => got.push(plain(r)));
  for (const c of chunks) reader.feed(c);
  assert.equal(reader.midRequest, false);
  return got;
}

/**
 * Reads `stream` the way the server's socket does when it reuses its read
 * buffer: each read lands where `nextReadBuffer` says (a staging buffer that
 * the next read overwrites, or the rest of a WRITE's data, in place), `cuts`
 * bytes at a time at most. Requests are kept as handed over (no copy), and
 * the staging buffer is scribbled over after every read, so a request that
 * kept a view of it shows.
 */
function readInPlace(stream: Buffer, cuts: (i: number) => number, staging = Buffer.alloc(256)): ReturnType<typeof plain>[] {
  const got: NbdRequest[] = [];
  const reader = new RequestReader((r) => got.push(r), { pool: new BufferPool(1 << 20), reusesChunks: true });
  let at = 0;
  for (let i = 0; at < stream.length; i++) {
    const into = reader.nextReadBuffer(staging);
    assert.ok(into.length > 0);
    const n = Math.min(into.length, cuts(i), stream.length - at);
    stream.copy(into, 0, at, at + n);
    at += n;
    reader.feed(into.subarray(0, n));
    staging.fill(0xee);
  }
  assert.equal(reader.midRequest, false);
  return got.map(plain);
}

describe("OptionReader", () => {
  const stream = Buffer.concat([
    clientFlags(3),
    encodeOption(7, infoData("disk", [INFO.BLOCK_SIZE])),
    encodeOption(8),
    encodeOption(3),
    encodeOption(0x12345678, Buffer.from("whatever the data")),
  ]);
  const expected: HandshakeItem[] = [
    { kind: "client-flags", flags: 3 },
    { kind: "option", option: 7, data: infoData("disk", [INFO.BLOCK_SIZE]) },
    { kind: "option", option: 8, data: Buffer.alloc(0) },
    { kind: "option", option: 3, data: Buffer.alloc(0) },
    { kind: "option", option: 0x12345678, data: Buffer.from("whatever the data") },
  ];

  it("reads the client flags, then options, whole", () => {
    assert.deepEqual(readOptions(new OptionReader(65536), [stream]), expected);
  });

  it("reads the same items wherever the stream is cut, down to byte by byte", () => {
    for (const chunks of splits(stream)) {
      assert.deepEqual(readOptions(new OptionReader(65536), chunks), expected, `cut into ${chunks.map((c) => c.length)}`);
    }
  });

  it("waits for a whole option before handing it over", () => {
    const r = new OptionReader(65536);
    r.feed(clientFlags(1).subarray(0, 3));
    assert.equal(r.take(), null);
    r.feed(clientFlags(1).subarray(3));
    assert.deepEqual(r.take(), { kind: "client-flags", flags: 1 });
    const opt = encodeOption(7, infoData("x"));
    r.feed(opt.subarray(0, opt.length - 1));
    assert.equal(r.take(), null);
    r.feed(opt.subarray(opt.length - 1));
    assert.deepEqual(r.take(), { kind: "option", option: 7, data: infoData("x") });
    assert.equal(r.take(), null);
  });

  it("skips an oversized option as it arrives, without buffering it, and reports it", () => {
    const big = Buffer.alloc(10_000, 0xab);
    const s = Buffer.concat([clientFlags(3), encodeOption(6, big), encodeOption(3)]);
    for (const cut of [1, 7, 100, 4096]) {
      const r = new OptionReader(1024);
      const items: HandshakeItem[] = [];
      let most = 0;
      for (let at = 0; at < s.length; at += cut) {
        r.feed(s.subarray(at, at + cut));
        most = Math.max(most, r.bufferedBytes);
        for (let item = r.take(); item; item = r.take()) items.push(item);
        most = Math.max(most, r.bufferedBytes);
      }
      assert.deepEqual(items, [
        { kind: "client-flags", flags: 3 },
        { kind: "option-too-big", option: 6, length: 10_000 },
        { kind: "option", option: 3, data: Buffer.alloc(0) },
      ]);
      assert.ok(most <= cut + 16, `buffered ${most} bytes with chunks of ${cut}`);
    }
  });

  it("skips an oversized option however the stream is cut", () => {
    const s = Buffer.concat([clientFlags(3), encodeOption(9, Buffer.alloc(40, 1)), encodeOption(8)]);
    for (const chunks of splits(s)) {
      assert.deepEqual(readOptions(new OptionReader(39), chunks), [
        { kind: "client-flags", flags: 3 },
        { kind: "option-too-big", option: 9, length: 40 },
        { kind: "option", option: 8, data: Buffer.alloc(0) },
      ]);
    }
  });

  it("reports a huge length field (4 GiB) at once, and holds nothing of it", () => {
    const r = new OptionReader(65536);
    const h = encodeOption(1, Buffer.alloc(0), 0xffffffff);
    r.feed(Buffer.concat([clientFlags(3), h, Buffer.alloc(1 << 20)]));
    assert.deepEqual(r.take(), { kind: "client-flags", flags: 3 });
    assert.equal(r.take(), null, "the option is reported only once skipped");
    assert.equal(r.bufferedBytes, 0);
  });

  it("accepts an option of exactly the limit", () => {
    const data = Buffer.alloc(1024, 7);
    const items = readOptions(new OptionReader(1024), [clientFlags(1), encodeOption(6, data)]);
    assert.deepEqual(items[1], { kind: "option", option: 6, data });
  });

  it("throws a protocol error on a bad option magic", () => {
    const r = new OptionReader(65536);
    const bad = encodeOption(7);
    bad.write("IHAVEOPX", 0, "latin1");
    r.feed(Buffer.concat([clientFlags(3), bad]));
    assert.deepEqual(r.take(), { kind: "client-flags", flags: 3 });
    assert.throws(() => r.take(), NbdProtocolError);
  });

  it("hands over what follows the handshake with rest()", () => {
    const r = new OptionReader(65536);
    const req = encodeRequest({ type: CMD.READ, cookie: 5n, offset: 0, length: 512 });
    r.feed(Buffer.concat([clientFlags(3), encodeOption(7, infoData("")), req]));
    assert.equal(r.take()?.kind, "client-flags");
    assert.equal(r.take()?.kind, "option");
    assert.deepEqual(r.rest(), req);
    assert.equal(r.bufferedBytes, 0);
  });
});

describe("RequestReader", () => {
  const payload = Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 7) & 0xff));
  const reqs = [
    encodeRequest({ type: CMD.READ, flags: 1, cookie: 0x0102030405060708n, offset: 4096, length: 8192 }),
    encodeRequest({ type: CMD.WRITE, flags: 1, cookie: 2n, offset: 2n ** 40n, data: payload }),
    encodeRequest({ type: CMD.FLUSH, cookie: 3n }),
    encodeRequest({ type: CMD.WRITE, cookie: 4n, offset: 1, data: Buffer.from([0x5a]) }),
    encodeRequest({ type: CMD.WRITE, cookie: 5n, offset: 9, length: 0 }),
    encodeRequest({ type: CMD.BLOCK_STATUS, flags: 8, cookie: 0xffffffffffffffffn, offset: 0, length: 0xffffffff }),
    encodeRequest({ type: CMD.DISC, cookie: 7n }),
  ];
  const stream = Buffer.concat(reqs);
  const expected = [
    { flags: 1, type: CMD.READ, cookieHi: 0x01020304, cookieLo: 0x05060708, offset: 4096, length: 8192, data: null },
    { flags: 1, type: CMD.WRITE, cookieHi: 0, cookieLo: 2, offset: 2 ** 40, length: 300, data: payload },
    { flags: 0, type: CMD.FLUSH, cookieHi: 0, cookieLo: 3, offset: 0, length: 0, data: null },
    { flags: 0, type: CMD.WRITE, cookieHi: 0, cookieLo: 4, offset: 1, length: 1, data: Buffer.from([0x5a]) },
    { flags: 0, type: CMD.WRITE, cookieHi: 0, cookieLo: 5, offset: 9, length: 0, data: null },
    { flags: 8, type: CMD.BLOCK_STATUS, cookieHi: 0xffffffff, cookieLo: 0xffffffff, offset: 0, length: 0xffffffff, data: null },
    { flags: 0, type: CMD.DISC, cookieHi: 0, cookieLo: 7, offset: 0, length: 0, data: null },
  ];

  it("reads several requests from one chunk", () => {
    assert.deepEqual(readRequests([stream]), expected);
  });

  it("reads the same requests wherever the stream is cut once, and byte by byte", () => {
    for (const chunks of splits(stream)) assert.deepEqual(readRequests(chunks), expected);
  });

  it("reads the same requests wherever the stream is cut twice", () => {
    const short = Buffer.concat([reqs[1]!, reqs[3]!, reqs[0]!]);
    const want = [expected[1], expected[3], expected[0]];
    for (let i = 0; i <= short.length; i++) {
      for (let j = i; j <= short.length; j++) {
        assert.deepEqual(readRequests([short.subarray(0, i), short.subarray(i, j), short.subarray(j)]), want, `cut at ${i} and ${j}`);
      }
    }
  });

  it("reads the same requests into reused buffers and in place, at every read size", () => {
    for (let cut = 1; cut <= stream.length; cut++) {
      assert.deepEqual(readInPlace(stream, () => cut), expected, `reads of ${cut} bytes`);
    }
    let x = 7;
    for (let run = 0; run < 200; run++) {
      const got = readInPlace(stream, () => ((x = (x * 1103515245 + 12345) >>> 0) % 97) + 1, Buffer.alloc(64 + (run % 200)));
      assert.deepEqual(got, expected, `run ${run}`);
    }
  });

  it("reads a large WRITE's data straight into its own buffer, not the staging buffer", () => {
    const data = Buffer.from(Array.from({ length: 300 * 1024 }, (_, i) => (i * 31) & 0xff));
    const s = Buffer.concat([encodeRequest({ type: CMD.WRITE, cookie: 1n, offset: 0, data }), encodeRequest({ type: CMD.FLUSH, cookie: 2n })]);
    for (const cut of [1000, 65536, 1 << 20]) {
      const got = readInPlace(s, () => cut, Buffer.alloc(64 * 1024));
      assert.equal(got.length, 2);
      assert.ok(got[0]!.data!.equals(data), `reads of ${cut}`);
      assert.equal(got[1]!.type, CMD.FLUSH);
    }
  });

  it("says when it is in the middle of a request", () => {
    const reader = new RequestReader(() => {});
    reader.feed(reqs[1]!.subarray(0, 10));
    assert.equal(reader.midRequest, true);
    reader.feed(reqs[1]!.subarray(10, 40));
    assert.equal(reader.midRequest, true, "in the WRITE's data");
    reader.feed(reqs[1]!.subarray(40));
    assert.equal(reader.midRequest, false);
  });

  it("hands over the requests before a bad magic, then throws a protocol error", () => {
    const got: NbdRequest[] = [];
    const reader = new RequestReader((r) => got.push(r));
    const bad = encodeRequest({ type: CMD.READ, magic: 0x25609514, length: 1 });
    assert.throws(() => reader.feed(Buffer.concat([reqs[0]!, reqs[2]!, bad])), (err: unknown) => {
      assert.ok(err instanceof NbdProtocolError);
      assert.match(err.message, /bad request magic 0x25609514/);
      return true;
    });
    assert.equal(got.length, 2);
  });

  it("throws on a bad magic even when the header arrives byte by byte", () => {
    const reader = new RequestReader(() => assert.fail("no request"));
    const bad = encodeRequest({ type: CMD.READ, magic: 0, length: 1 });
    for (let i = 0; i < 27; i++) reader.feed(bad.subarray(i, i + 1));
    assert.throws(() => reader.feed(bad.subarray(27)), NbdProtocolError);
  });

  it("refuses a WRITE over 32 MiB before reading its data, and takes exactly 32 MiB", () => {
    const reader = new RequestReader(() => assert.fail("no request"));
    assert.throws(
      () => reader.feed(encodeRequest({ type: CMD.WRITE, offset: 0, length: 32 * MiB + 1 })),
      (err: unknown) => err instanceof NbdProtocolError && /over the 33554432-byte limit/.test(err.message),
    );
    const data = Buffer.alloc(32 * MiB, 0xc3);
    const chunks = [encodeRequest({ type: CMD.WRITE, length: 32 * MiB }), ...Array.from({ length: 512 }, (_, i) => data.subarray(i * 65536, (i + 1) * 65536))];
    const got = readRequests(chunks);
    assert.equal(got.length, 1);
    assert.equal(got[0]!.length, 32 * MiB);
    assert.ok(got[0]!.data!.equals(data));
  });

  it("leaves a READ's length to the server (no payload to read)", () => {
    const got = readRequests([encodeRequest({ type: CMD.READ, length: 0xffffffff, offset: 2n ** 64n - 1n })]);
    assert.equal(got[0]!.length, 0xffffffff);
    assert.ok(got[0]!.offset >= 2 ** 64 - 4096, "a nonsense offset stays nonsense (it fails range checks)");
  });
});

describe("handshake encoders", () => {
  it("greets with NBDMAGIC, IHAVEOPT, FIXED_NEWSTYLE and NO_ZEROES", () => {
    const g = greeting();
    assert.equal(g.length, 18);
    assert.equal(g.readBigUInt64BE(0), NBDMAGIC);
    assert.equal(g.readBigUInt64BE(8), IHAVEOPT);
    assert.equal(g.readUInt16BE(16), 3);
  });

  it("frames option replies", () => {
    const r = optionReply(7, REP.INFO, Buffer.from([1, 2, 3]));
    assert.equal(r.length, 23);
    assert.equal(r.readBigUInt64BE(0), OPTION_REPLY_MAGIC);
    assert.equal(r.readUInt32BE(8), 7);
    assert.equal(r.readUInt32BE(12), REP.INFO);
    assert.equal(r.readUInt32BE(16), 3);
    assert.deepEqual([...r.subarray(20)], [1, 2, 3]);
    assert.equal(optionReply(3, REP.ACK).length, 20);
    const e = optionError(9, REP.ERR_UNSUP, "nope é");
    assert.equal(e.readUInt32BE(12), REP.ERR_UNSUP);
    assert.equal(e.readUInt32BE(16), Buffer.byteLength("nope é"));
    assert.equal(e.subarray(20).toString("utf8"), "nope é");
  });

  it("answers EXPORT_NAME with size and flags, and 124 zeroes unless NO_ZEROES", () => {
    const size = 2 ** 40 + 512;
    const short = exportNameReply(size, 0x1234, true);
    assert.equal(short.length, 10);
    assert.equal(Number(short.readBigUInt64BE(0)), size);
    assert.equal(short.readUInt16BE(8), 0x1234);
    const long = exportNameReply(size, 0x1234, false);
    assert.equal(long.length, 134);
    assert.ok(long.subarray(0, 10).equals(short));
    assert.ok(long.subarray(10).equals(Buffer.alloc(124)));
  });

  it("encodes the INFO replies", () => {
    const e = infoExport(2 ** 33, 0x0f0f);
    assert.equal(e.length, 12);
    assert.equal(e.readUInt16BE(0), INFO.EXPORT);
    assert.equal(Number(e.readBigUInt64BE(2)), 2 ** 33);
    assert.equal(e.readUInt16BE(10), 0x0f0f);
    const n = infoString(INFO.NAME, "dïsk");
    assert.equal(n.readUInt16BE(0), INFO.NAME);
    assert.equal(n.subarray(2).toString("utf8"), "dïsk");
    assert.equal(infoString(INFO.DESCRIPTION, "").length, 2);
    const b = infoBlockSize();
    assert.equal(b.length, 14);
    assert.deepEqual([b.readUInt16BE(0), b.readUInt32BE(2), b.readUInt32BE(6), b.readUInt32BE(10)], [INFO.BLOCK_SIZE, 1, 4096, 32 * MiB]);
  });

  it("encodes LIST entries and meta context entries", () => {
    const s = serverEntry("disk", "the disk");
    assert.equal(s.readUInt32BE(0), 4);
    assert.equal(s.subarray(4, 8).toString(), "disk");
    assert.equal(s.subarray(8).toString(), "the disk");
    assert.equal(serverEntry("é", undefined).length, 6);
    const m = metaContextEntry(1, "base:allocation");
    assert.equal(m.readUInt32BE(0), 1);
    assert.equal(m.subarray(4).toString(), "base:allocation");
  });
});

describe("option data parsers", () => {
  it("parses INFO/GO data", () => {
    assert.deepEqual(parseInfoRequest(infoData("disk", [3, 1, 2])), { name: "disk", requests: [3, 1, 2] });
    assert.deepEqual(parseInfoRequest(infoData("")), { name: "", requests: [] });
  });

  it("refuses every truncation of INFO/GO data, and stray bytes, with OptionDataError", () => {
    const data = infoData("disk", [3, 1]);
    for (let n = 0; n < data.length; n++) {
      assert.throws(() => parseInfoRequest(data.subarray(0, n)), OptionDataError, `truncated to ${n}`);
    }
    assert.throws(() => parseInfoRequest(Buffer.concat([data, Buffer.from([0])])), OptionDataError);
    const lying = Buffer.from(data);
    lying.writeUInt32BE(0xffffffff, 0);
    assert.throws(() => parseInfoRequest(lying), OptionDataError);
    const tooMany = Buffer.from(data);
    tooMany.writeUInt16BE(0xffff, 8);
    assert.throws(() => parseInfoRequest(tooMany), OptionDataError);
  });

  it("parses meta context data", () => {
    assert.deepEqual(parseMetaContextRequest(metaData("d", ["base:allocation", "qemu:dirty-bitmap:x"])), {
      name: "d",
      queries: ["base:allocation", "qemu:dirty-bitmap:x"],
    });
    assert.deepEqual(parseMetaContextRequest(metaData("", [])), { name: "", queries: [] });
  });

  it("refuses every truncation of meta context data, stray bytes and lying counts, with OptionDataError", () => {
    const data = metaData("disk", ["base:allocation", "base:"]);
    for (let n = 0; n < data.length; n++) {
      assert.throws(() => parseMetaContextRequest(data.subarray(0, n)), OptionDataError, `truncated to ${n}`);
    }
    assert.throws(() => parseMetaContextRequest(Buffer.concat([data, Buffer.alloc(3)])), OptionDataError);
    const huge = Buffer.from(data);
    huge.writeUInt32BE(0xffffffff, 8); // number of queries
    assert.throws(() => parseMetaContextRequest(huge), OptionDataError);
    const longQuery = Buffer.from(data);
    longQuery.writeUInt32BE(0x7fffffff, 12);
    assert.throws(() => parseMetaContextRequest(longQuery), OptionDataError);
  });

  it("makes OptionDataError a protocol error", () => {
    assert.ok(new OptionDataError("x") instanceof NbdProtocolError);
  });
});

describe("reply encoders", () => {
  it("encodes a simple reply", () => {
    const r = simpleReply(0xdeadbeef, 0x01020304, 22);
    assert.equal(r.length, 16);
    assert.equal(r.readUInt32BE(0), SIMPLE_REPLY_MAGIC);
    assert.equal(r.readUInt32BE(4), 22);
    assert.equal(r.readBigUInt64BE(8), 0xdeadbeef01020304n);
  });

  /** Parses one structured chunk, checking its header's length against the buffer. */
  function chunk(b: Buffer) {
    assert.equal(b.readUInt32BE(0), STRUCTURED_REPLY_MAGIC);
    assert.equal(b.readUInt32BE(16), b.length - 20, "the header's length is the payload's");
    return { cookie: b.readBigUInt64BE(8), ...parseChunk(b.readUInt16BE(4), b.readUInt16BE(6), b.subarray(20)) };
  }

  it("encodes OFFSET_DATA headers with 64-bit offsets", () => {
    const b = Buffer.alloc(OFFSET_DATA_HEADER_BYTES + 5);
    writeOffsetDataHeader(b, 0, 1, 7, 8, 2 ** 40 + 3, 5);
    Buffer.from("hello").copy(b, OFFSET_DATA_HEADER_BYTES);
    const c = chunk(b);
    assert.equal(c.cookie, (7n << 32n) | 8n);
    assert.equal(c.flags, 1);
    assert.equal(c.type, CHUNK.OFFSET_DATA);
    assert.equal(c.offset, 2 ** 40 + 3);
    assert.equal(c.data!.toString(), "hello");
  });

  it("encodes OFFSET_HOLE, NONE, ERROR and BLOCK_STATUS chunks", () => {
    const hole = chunk(offsetHoleChunk(0, 1, 2, 2 ** 35, 65536));
    assert.deepEqual([hole.type, hole.flags, hole.offset, hole.holeLength], [CHUNK.OFFSET_HOLE, 0, 2 ** 35, 65536]);
    const none = chunk(noneChunk(1, 0, 9));
    assert.deepEqual([none.type, none.flags, none.cookie], [CHUNK.NONE, 1, 9n]);
    const err = chunk(errorChunk(1, 0, 3, 22, "bad range"));
    assert.deepEqual([err.type, err.errno, err.message], [CHUNK.ERROR, 22, "bad range"]);
    const long = chunk(errorChunk(1, 0, 3, 5, "é".repeat(10_000)));
    assert.ok(long.message!.length <= 4096);
    const bs = chunk(blockStatusChunk(1, 0, 4, 1, [{ length: 4096, flags: 0 }, { length: 2 ** 32 - 4096, flags: 3 }]));
    assert.equal(bs.contextId, 1);
    assert.deepEqual(bs.extents, [{ length: 4096, flags: 0 }, { length: 2 ** 32 - 4096, flags: 3 }]);
  });
});

describe("errors on the wire", () => {
  it("maps device errors to NBD error numbers", () => {
    assert.equal(toErrno(new NbdRequestError(22, "x")), 22);
    assert.equal(toErrno(new ReadOnlyError("x")), 1);
    assert.equal(toErrno(new NoSpaceError("x")), 28);
    assert.equal(toErrno(new NotSupportedError("x")), 95);
    assert.equal(toErrno(new DeviceIoError("x")), 5);
    assert.equal(toErrno(new Error("anything else")), 5);
  });
});
