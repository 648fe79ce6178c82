/**
 * The outgoing stream's data copies: a copy is exact and apart from the
 * caller's buffer (which NBD reuses at once), slabs are reused only once the
 * recovery site holds every record in them, and a reset frees them all.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RecordSlabs } from "../../src/replication/record-slabs.js";

const KiB = 1024;
const MiB = 1024 * KiB;

describe("record slabs", () => {
  it("copies apart from the caller's buffer", () => {
    const slabs = new RecordSlabs(256 * MiB);
    const data = Buffer.alloc(4 * KiB, 7);
    const copy = slabs.copy(data, 1);
    data.fill(9);
    assert.deepEqual(copy, Buffer.alloc(4 * KiB, 7));
  });

  it("reuses a slab only when every record in it is acknowledged", () => {
    const slabs = new RecordSlabs(256 * MiB);
    // 1 MiB records: eight fill a slab, the ninth starts the next one.
    const copies = Array.from({ length: 12 }, (_, i) => slabs.copy(Buffer.alloc(MiB, i + 1), i + 1));
    slabs.release(7);
    // Seq 8 is still unacknowledged: its slab (and every copy in it) stays as it was.
    const more = Array.from({ length: 8 }, (_, i) => slabs.copy(Buffer.alloc(MiB, 100 + i), 13 + i));
    for (let i = 0; i < 12; i++) assert.equal(copies[i]![0], i + 1, `copy of seq ${i + 1}`);
    for (let i = 0; i < 8; i++) assert.equal(more[i]![MiB - 1], 100 + i);
    // Once 8 is held the first slab comes back, and new copies may land in it.
    slabs.release(8);
    const reused = slabs.copy(Buffer.alloc(MiB, 200), 21);
    assert.equal(reused[0], 200);
    for (let i = 8; i < 12; i++) assert.equal(copies[i]![0], i + 1, `copy of seq ${i + 1} after the first slab was freed`);
  });

  it("gives larger writes a buffer of their own", () => {
    const slabs = new RecordSlabs(256 * MiB);
    const big = slabs.copy(Buffer.alloc(4 * MiB, 3), 1);
    assert.equal(big.length, 4 * MiB);
    assert.equal(big.byteOffset, 0);
    assert.equal(big.buffer.byteLength >= 4 * MiB, true);
  });

  it("a reset frees every slab", () => {
    const slabs = new RecordSlabs(256 * MiB);
    for (let i = 1; i <= 40; i++) slabs.copy(Buffer.alloc(MiB), i);
    assert.ok(slabs.bytes >= 40 * MiB);
    slabs.reset();
    // What is kept is the current slab and two spares, not the 40 MiB.
    assert.ok(slabs.bytes <= 3 * 8 * MiB, `${slabs.bytes} bytes kept`);
  });

  it("a small stream gets small slabs", () => {
    const slabs = new RecordSlabs(4 * MiB);
    slabs.copy(Buffer.alloc(4 * KiB), 1);
    assert.equal(slabs.bytes, MiB);
    // Over a quarter of its 1 MiB slab, a write gets its own buffer.
    const own = slabs.copy(Buffer.alloc(MiB, 5), 2);
    assert.equal(own.byteOffset, 0);
    assert.equal(slabs.bytes, MiB);
  });
});
