/**
 * Our crc32c against an independent implementation (@node-rs/crc32) and the
 * standard check value, at every length and alignment that its loops treat
 * differently, continued from a previous checksum or not, both ways it runs.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { crc32c as reference } from "@node-rs/crc32";
import { crc32c, crc32cTable } from "../../src/checksum/index.js";

describe("crc32c", () => {
  it("gives the standard check value", () => {
    assert.equal(crc32c(Buffer.from("123456789")), 0xe3069283);
    assert.equal(crc32cTable(Buffer.from("123456789")), 0xe3069283);
    assert.equal(crc32c(Buffer.alloc(0)), 0);
  });

  it("agrees with @node-rs/crc32 at every length, alignment and continuation", () => {
    const bytes = Buffer.alloc(70_000);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7919 + (i >> 7)) & 0xff;
    for (let length = 0; length < 66_000; length += length < 1100 ? 1 : 997) {
      for (const at of [0, 1, 3, 7]) {
        const b = bytes.subarray(at, at + length);
        const want = reference(b);
        assert.equal(crc32c(b), want, `${length} bytes at ${at}`);
        assert.equal(crc32cTable(b), want, `${length} bytes at ${at}, by the table`);
        assert.equal(crc32c(b, 0xdeadbeef), reference(b, 0xdeadbeef), `${length} bytes at ${at}, continued`);
      }
    }
  });

  it("continues: the checksum of A then B is that of B from A's", () => {
    const a = Buffer.from("write-order fidelity ");
    const b = Buffer.from("across every disk of a group");
    assert.equal(crc32c(b, crc32c(a)), crc32c(Buffer.concat([a, b])));
  });
});
