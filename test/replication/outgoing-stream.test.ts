/**
 * The outgoing stream's accounting: what its entries count against the limit
 * stays exact as sync blocks become ready (an all-zero block frees its room),
 * and a sync gets its half of the stream however much of the rest the
 * writes in flight take. (A torture run found both: zero blocks leaked their
 * room, and after a few the sync waited forever.)
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ENTRY_OVERHEAD_BYTES, OutgoingStream, type StreamEntry } from "../../src/replication/outgoing-stream.js";

const KiB = 1024;
const MiB = 1024 * KiB;

function write(seq: number, bytes: number): StreamEntry {
  const data = Buffer.alloc(bytes);
  return { seq, timeMs: 1, disk: 0, offset: 0, length: bytes, record: { type: "write", seq, timeMs: 1, disk: 0, offset: 0, data }, bytes: bytes + ENTRY_OVERHEAD_BYTES };
}

function syncBlock(seq: number, bytes: number): StreamEntry {
  return { seq, timeMs: 1, disk: 0, offset: 0, length: bytes, record: undefined, bytes: bytes + ENTRY_OVERHEAD_BYTES, sync: true };
}

const settled = async (p: Promise<void>): Promise<boolean> => {
  let done = false;
  void p.then(() => (done = true));
  await new Promise((r) => setImmediate(r));
  return done;
};

describe("outgoing stream", () => {
  it("counts a sync block again when it is ready: an all-zero block keeps only its overhead, and acks leave nothing behind", () => {
    const s = new OutgoingStream(4 * MiB);
    const zero = syncBlock(1, 256 * KiB);
    const full = syncBlock(2, 256 * KiB);
    s.push(zero);
    s.push(full);
    assert.equal(s.bytes, 2 * (256 * KiB + ENTRY_OVERHEAD_BYTES));
    s.ready(zero, { type: "sync-block", seq: 1, timeMs: 1, disk: 0, offset: 0, length: 256 * KiB, data: undefined });
    s.ready(full, { type: "sync-block", seq: 2, timeMs: 1, disk: 0, offset: 0, length: 256 * KiB, data: Buffer.alloc(256 * KiB, 1) });
    assert.equal(s.bytes, 256 * KiB + 2 * ENTRY_OVERHEAD_BYTES);
    assert.equal(s.syncBytes, s.bytes);
    s.push(write(3, 4 * KiB));
    s.ack(3);
    assert.equal(s.bytes, 0);
    assert.equal(s.syncBytes, 0);
  });

  it("a block made ready after an overflow dropped it changes nothing", () => {
    const s = new OutgoingStream(4 * MiB);
    const block = syncBlock(1, 64 * KiB);
    s.push(block);
    s.reset(5);
    s.ready(block, { type: "sync-block", seq: 1, timeMs: 1, disk: 0, offset: 0, length: 64 * KiB, data: undefined });
    assert.equal(s.bytes, 0);
    assert.equal(s.syncBytes, 0);
  });

  it("a sync gets half the stream whatever the writes in flight take, and waits only for its own half or the limit", async () => {
    const s = new OutgoingStream(4 * MiB);
    s.push(write(1, 3 * MiB));
    assert.ok(await settled(s.whenSyncRoom(512 * KiB)), "room beside 3 MiB of writes");
    s.push(syncBlock(2, 512 * KiB));
    s.push(syncBlock(3, 256 * KiB));
    const waiting = s.whenSyncRoom(512 * KiB);
    assert.equal(await settled(waiting), false, "over the limit");
    s.ack(1);
    assert.ok(await settled(waiting), "the writes' acks make room");
    s.push(syncBlock(4, 1 * MiB));
    const half = s.whenSyncRoom(512 * KiB);
    assert.equal(await settled(half), false, "the sync's half is full");
    s.ack(3);
    assert.ok(await settled(half));
  });
});
