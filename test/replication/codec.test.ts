import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import fc from "fast-check";
import { crc32c } from "@node-rs/crc32";
import { crc32cCombine } from "../../src/replication/crc32c-combine.js";
import { FrameError, FrameReader, FRAME_HEADER_BYTES, compressionLikely, decodeFrame, encodeBatch, encodeBatchPieces, encodeFrame, type Frame, type StreamRecord } from "../../src/replication/index.js";

const rec = <T>(m: { [K in keyof T]: fc.Arbitrary<T[K]> }): fc.Arbitrary<T> => fc.record(m, { noNullPrototype: true }) as fc.Arbitrary<T>;
const FC = { seed: Number(process.env.FC_SEED ?? 4242), numRuns: 300 };

const safe = fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const disk = fc.integer({ min: 0, max: 0xffff });
const data = fc.uint8Array({ minLength: 1, maxLength: 4096 }).map((a) => Buffer.from(a));
const name = fc.string({ maxLength: 40 });

const record: fc.Arbitrary<StreamRecord> = fc.oneof(
  rec({ type: fc.constant("write" as const), seq: safe, timeMs: safe, disk, offset: safe, data }),
  rec({ type: fc.constantFrom("zero" as const, "trim" as const), seq: safe, timeMs: safe, disk, offset: safe, length: u32 }),
  rec({ type: fc.constant("checkpoint" as const), seq: safe, timeMs: safe, id: name, tag: fc.option(name, { nil: undefined }), consistent: fc.boolean() }),
  rec({ type: fc.constant("sync-block" as const), seq: safe, timeMs: safe, disk, offset: safe, length: fc.integer({ min: 1, max: 4096 }), data: fc.option(data, { nil: undefined }) }).map((r) =>
    r.data ? { ...r, length: r.data.length } : r,
  ),
);

const frame: fc.Arbitrary<Frame> = fc.oneof(
  record,
  rec({
    type: fc.constant("hello" as const),
    role: fc.constantFrom("sender" as const, "receiver" as const),
    site: name,
    group: name,
    durableSeq: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
    disks: fc.array(rec({ name, sizeBytes: safe }), { maxLength: 5 }),
  }),
  rec({ type: fc.constant("ack" as const), durableSeq: safe }),
  rec({ type: fc.constant("batch" as const), records: fc.array(record, { maxLength: 8 }) }),
  rec({ type: fc.constant("hash-request" as const), disk, offset: safe, length: safe, blockBytes: fc.integer({ min: 1, max: 0xffffffff }) }),
  rec({ type: fc.constant("hashes" as const), disk, offset: safe, blockBytes: u32, hashes: fc.uint8Array({ maxLength: 8 }).map((a) => Buffer.alloc(a.length * 16, a.length)) }),
  rec({ type: fc.constant("error" as const), code: fc.constantFrom("paused" as const, "protocol" as const, "refused" as const), message: name }),
);

/**
 * A decoded frame, with each record's `dataCrc` checked against its data and
 * then dropped (the decoder learns it on the way; it is not on the wire).
 */
function decodeChecked(wire: Buffer): Frame {
  const f = decodeFrame(wire);
  for (const r of f.type === "batch" ? f.records : [f]) {
    if ((r.type === "write" || r.type === "sync-block") && r.dataCrc !== undefined) {
      assert.equal(r.dataCrc, crc32c(r.data!), "dataCrc is the data's crc32c");
      delete r.dataCrc;
    }
  }
  return f;
}

describe("replication frame codec", () => {
  it("decodes what it encodes, compressed or not", () => {
    fc.assert(
      fc.property(frame, fc.boolean(), (f, compress) => {
        const { frame: wire } = encodeFrame(f, { compress });
        assert.deepEqual(decodeChecked(wire), f);
      }),
      FC,
    );
  });

  it("tells each write's crc32c when the frame is not compressed", () => {
    const data = [randomBytes(4096), randomBytes(100), randomBytes(70000)];
    const records: StreamRecord[] = data.map((d, i) => ({ type: "write", seq: i + 1, timeMs: 1, disk: 0, offset: 0, data: d }));
    records.splice(1, 0, { type: "checkpoint", seq: 9, timeMs: 2, id: "c", tag: undefined, consistent: true });
    const f = decodeFrame(encodeBatch(records, false).frame);
    assert.ok(f.type === "batch");
    const crcs = f.records.flatMap((r) => (r.type === "write" ? [r.dataCrc] : []));
    assert.deepEqual(crcs, data.map((d) => crc32c(d)));
  });

  it("combines crc32c of parts into the crc32c of the whole", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ maxLength: 5000 }), (a, b) => {
        assert.equal(crc32cCombine(crc32c(Buffer.from(a)), crc32c(Buffer.from(b)), b.length), crc32c(Buffer.concat([a, b])));
      }),
      FC,
    );
  });

  it("guesses from a sample whether a batch compresses", () => {
    const w = (seq: number, data: Buffer): StreamRecord => ({ type: "write", seq, timeMs: 1, disk: 0, offset: 0, data });
    assert.equal(compressionLikely([w(1, randomBytes(1 << 20))]), false);
    assert.equal(compressionLikely([w(1, Buffer.alloc(1 << 20, 7))]), true);
    // The sample is spread over many small records, and over the whole batch.
    const small = Array.from({ length: 64 }, (_, i) => w(i + 1, i >= 32 ? Buffer.alloc(4096, i) : randomBytes(4096)));
    assert.equal(compressionLikely(small), true);
    assert.equal(compressionLikely(Array.from({ length: 64 }, (_, i) => w(i + 1, randomBytes(4096)))), false);
    // Little data: tried whole (a checkpoint, or a few small writes).
    assert.equal(compressionLikely([{ type: "checkpoint", seq: 1, timeMs: 1, id: "x", tag: undefined, consistent: true }]), true);
  });

  it("compresses a batch of compressible writes and leaves random data alone", () => {
    const zeros: StreamRecord = { type: "write", seq: 1, timeMs: 1, disk: 0, offset: 0, data: Buffer.alloc(65536, 7) };
    const packed = encodeFrame({ type: "batch", records: [zeros] }, { compress: true });
    assert.ok(packed.compressed && packed.frame.length < 1024);
    const random: StreamRecord = { ...zeros, data: randomBytes(65536) };
    const plain = encodeFrame({ type: "batch", records: [random] }, { compress: true });
    assert.equal(plain.compressed, false);
    assert.deepEqual(decodeFrame(packed.frame), { type: "batch", records: [zeros] });
  });

  it("rejects any single flipped bit with a reason, never a wrong frame", () => {
    fc.assert(
      fc.property(frame, fc.boolean(), fc.nat(), fc.integer({ min: 0, max: 7 }), (f, compress, pos, bit) => {
        const { frame: wire } = encodeFrame(f, { compress });
        const bad = Buffer.from(wire);
        bad[pos % bad.length]! ^= 1 << bit;
        assert.throws(() => decodeFrame(bad), (e: unknown) => e instanceof FrameError && e.reason.length > 0);
      }),
      FC,
    );
  });

  it("rejects truncated frames, bad versions, bad lengths and unknown types", () => {
    const { frame: wire } = encodeFrame({ type: "ack", durableSeq: 9 });
    assert.throws(() => decodeFrame(wire.subarray(0, wire.length - 1)), FrameError);
    const v = Buffer.from(wire);
    v[4] = 2;
    assert.throws(() => decodeFrame(v), /version 2/);
    assert.throws(() => new FrameReader().push(Buffer.from([0, 0, 0, 3, 1, 0, 0, 0])), /shorter than a frame header/);
    assert.throws(() => new FrameReader().push(Buffer.from([0xff, 0, 0, 0, 1, 0, 0, 0])), /over the limit/);
    // A well-checksummed frame of an unknown type is still refused.
    const u = Buffer.from(wire);
    u[5] = 99;
    assert.throws(() => decodeFrame(u), FrameError);
  });

  it("rejects garbage of any shape with FrameError", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: FRAME_HEADER_BYTES, maxLength: 200 }), (bytes) => {
        const b = Buffer.from(bytes);
        b.writeUInt32BE(b.length, 0);
        b[4] = 1;
        assert.throws(() => decodeFrame(b), FrameError);
      }),
      FC,
    );
  });

  it("a batch encoded as pieces is byte for byte the batch encoded whole", () => {
    fc.assert(
      fc.property(fc.array(record, { maxLength: 8 }), (records) => {
        const { pieces, frameBytes } = encodeBatchPieces(records);
        const whole = encodeFrame({ type: "batch", records }).frame;
        assert.equal(frameBytes, whole.length);
        assert.deepEqual(Buffer.concat(pieces), whole);
      }),
      FC,
    );
  });

  it("FrameReader cuts a stream split at any points into the same frames", () => {
    fc.assert(
      fc.property(fc.array(frame, { minLength: 1, maxLength: 6 }), fc.array(fc.nat(), { maxLength: 10 }), (frames, cuts) => {
        const wire = Buffer.concat(frames.map((f) => encodeFrame(f).frame));
        const points = [...new Set(cuts.map((c) => c % wire.length))].sort((a, b) => a - b);
        const reader = new FrameReader();
        const out: Frame[] = [];
        let prev = 0;
        for (const p of [...points, wire.length]) {
          for (const fr of reader.push(wire.subarray(prev, p))) out.push(decodeChecked(fr));
          prev = p;
        }
        assert.deepEqual(out, frames);
        assert.equal(reader.bufferedBytes, 0);
      }),
      FC,
    );
  });
});
