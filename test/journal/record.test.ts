import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { crc32c } from "@node-rs/crc32";
import fc from "fast-check";
import { HEADER_BYTES, RecordType, crc32cSmall, decodeHeader, decodeCheckpointPayload, encodeCheckpointPayload, encodeHeader } from "../../src/journal/record.js";

describe("record codec", () => {
  it("round-trips headers, including seqs and offsets past 32 bits", () => {
    fc.assert(
      fc.property(fc.nat({ max: 2 ** 48 }), fc.nat({ max: 2 ** 50 }), fc.nat({ max: 2 ** 40 }), fc.nat(65535), (seq, offset, length, disk) => {
        const h = { type: RecordType.ZERO, flags: 0, disk, payloadBytes: 0, seq, timeMs: 1_700_000_000_123, offset, length };
        const got = decodeHeader(encodeHeader(h, undefined), 0);
        assert.deepEqual(got, { ...h, dcrc: 0 });
      }),
      { seed: 3 },
    );
  });

  it("catches any flipped bit of a header", () => {
    const b = encodeHeader({ type: RecordType.WRITE, flags: 0, disk: 1, payloadBytes: 4, seq: 9, timeMs: 5, offset: 4096, length: 4 }, Buffer.from("abcd"));
    for (let bit = 0; bit < HEADER_BYTES * 8; bit++) {
      const c = Buffer.from(b);
      c[bit >> 3]! ^= 1 << (bit & 7);
      assert.equal(typeof decodeHeader(c, 0), "string", `bit ${bit}`);
    }
  });

  it("computes the same CRC32C as the native library", () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      const b = Buffer.from(bytes);
      assert.equal(crc32cSmall(b, 0, b.length), crc32c(b));
    }), { seed: 4 });
  });

  it("round-trips checkpoint payloads", () => {
    assert.deepEqual(decodeCheckpointPayload(encodeCheckpointPayload({ id: "c-1", tag: "before-upgrade" })), { id: "c-1", tag: "before-upgrade" });
    assert.deepEqual(decodeCheckpointPayload(encodeCheckpointPayload({ id: "c-2", tag: undefined })), { id: "c-2", tag: undefined });
  });
});
