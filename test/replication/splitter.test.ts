import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MemoryDevice } from "../../src/blockdev/index.js";
import { DirtyBitmap, ProtectedGroup, RangeLock, type ReplicationEvent, type StreamRecord } from "../../src/replication/index.js";

const MiB = 1024 * 1024;

function group(limit = 4 * MiB): ProtectedGroup {
  return new ProtectedGroup({
    name: "g",
    disks: [{ name: "vm/a", store: new MemoryDevice(8 * MiB) }, { name: "vm/b", store: new MemoryDevice(8 * MiB) }],
    streamLimitBytes: limit,
    checkpointIntervalMs: 0,
  });
}

function records(g: ProtectedGroup): StreamRecord[] {
  const out: StreamRecord[] = [];
  for (let s = g.stream.ackedSeq + 1; s < g.stream.nextSeq; s++) out.push(g.stream.get(s)!.record!);
  return out;
}

async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 5));
}

describe("range lock", () => {
  it("holds back overlapping operations until earlier ones finish, in order", async () => {
    const lock = new RangeLock();
    const a = lock.acquire(0, 100);
    const b = lock.acquire(200, 100);
    const c = lock.acquire(50, 200);
    assert.equal(a.wait, undefined);
    assert.equal(b.wait, undefined);
    assert.ok(c.wait);
    let done = false;
    void c.wait.then(() => (done = true));
    lock.release(a.held);
    await new Promise((r) => setImmediate(r));
    assert.equal(done, false);
    lock.release(b.held);
    await new Promise((r) => setImmediate(r));
    assert.equal(done, true);
  });
});

describe("dirty bitmap", () => {
  it("marks the blocks a range touches and walks them", () => {
    const b = new DirtyBitmap(1_000_000, 65536);
    b.mark(65535, 2);
    b.mark(999_999, 1);
    assert.equal(b.dirtyBlocks, 3);
    assert.equal(b.dirtyBytes, 2 * 65536 + (1_000_000 - 15 * 65536));
    assert.deepEqual([b.nextDirty(), b.nextDirty(), b.nextDirty()], [0, 1, 15]);
    b.clearBlock(0);
    b.clearBlock(1);
    b.clearBlock(15);
    assert.equal(b.nextDirty(), undefined);
  });
});

describe("splitter", () => {
  it("gives one seq per write across disks, in arrival order, with the data copied", async () => {
    const g = group();
    g.resume(0);
    const a = g.device("vm/a");
    const b = g.device("vm/b");
    const buf = Buffer.alloc(4096, 1);
    const w1 = a.write(0, buf);
    buf.fill(2);
    const w2 = b.write(4096, buf);
    const w3 = a.writeZeroes(8192, 4096);
    const cp = g.checkpoint("t1");
    const w4 = b.trim(0, 4096);
    await Promise.all([w1, w2, w3, w4]);
    const recs = records(g);
    assert.deepEqual(recs.map((r) => [r.type, r.seq]), [["write", 1], ["write", 2], ["zero", 3], ["checkpoint", 4], ["trim", 5]]);
    assert.equal((recs[0] as { data: Buffer }).data[0], 1);
    assert.equal((recs[1] as { data: Buffer }).data[0], 2);
    assert.deepEqual([cp.seq, cp.consistent, cp.tag], [4, true, "t1"]);
    g.ack(3);
    assert.equal(g.stream.length, 2);
    await g.close();
  });

  it("overlapping writes reach the store in seq order", async () => {
    const g = group();
    g.resume(0);
    const d = g.device("vm/a");
    await Promise.all(Array.from({ length: 50 }, (_, i) => d.write((i % 3) * 512, Buffer.alloc(4096, i))));
    const last = records(g).filter((r) => r.type === "write").at(-1)!;
    assert.deepEqual(await d.read(0, 5120), Buffer.concat([Buffer.alloc(512, 48), Buffer.alloc(4096, 49), Buffer.alloc(512, 47)]));
    assert.equal(last.seq, 50);
    await g.close();
  });

  it("overflows into the bitmap, then a bitmap sync sends the dirty blocks and the group is consistent again", async () => {
    const g = group(MiB);
    const events: ReplicationEvent[] = [];
    g.events.on((e) => events.push(e));
    g.resume(0);
    const d = g.device("vm/a");
    for (let i = 0; i < 20; i++) await d.write(i * 131072, Buffer.alloc(65536, i + 1));
    assert.equal(g.state.kind, "tracking");
    assert.ok(events.some((e) => e.type === "overflow"));
    assert.equal(g.checkpoint().seq, undefined);
    assert.equal(g.dirtyBytes, 20 * 65536);
    // Reconnect: the receiver says it holds seq 3.
    assert.equal(g.resume(3), 4);
    assert.equal(g.state.kind, "syncing");
    assert.equal(g.checkpoint().consistent, false);
    // A write during the sync goes into the stream among the sync blocks.
    await d.write(0, Buffer.alloc(512, 99));
    // Play the receiver: take and acknowledge the ready prefix until the sync is over.
    const recs: StreamRecord[] = [];
    await until(() => {
      for (let e = g.stream.get(g.stream.ackedSeq + 1); e?.record; e = g.stream.get(g.stream.ackedSeq + 1)) {
        recs.push(e.record);
        g.ack(e.seq);
      }
      return g.state.kind === "streaming";
    });
    recs.push(...records(g));
    const synced = recs.filter((r) => r.type === "sync-block");
    assert.equal(synced.length, 20);
    assert.equal(recs[0]!.seq, 4);
    for (const r of synced) assert.equal(r.type === "sync-block" && r.data?.length, 65536);
    assert.equal(g.checkpoint().consistent, true);
    g.ack(g.stream.nextSeq - 1);
    assert.equal(g.rpoMs(), 0);
    assert.ok(events.some((e) => e.type === "consistent"));
    assert.ok(events.some((e) => e.type === "state" && e.to === "syncing" && /bitmap sync of 1\.3 MiB/.test(e.message)), JSON.stringify(events.map((e) => "message" in e ? e.message : e.type)));
    await g.close();
  });
});
