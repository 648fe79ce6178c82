import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { Journal, JournalCorruptError, JournalOrderError, PitView, verifyJournal } from "../../src/journal/index.js";
import { tearTail, tempDir, pattern } from "./helpers.js";

const root = tempDir("journal-basics");
after(() => fs.rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = () => path.join(root, `g${n++}`);

async function fill(j: Journal, count: number, from = j.lastSeq + 1): Promise<void> {
  const appends: Promise<void>[] = [];
  for (let i = 0; i < count; i++) {
    const seq = from + i;
    appends.push(j.append({ type: "write", seq, timeMs: 1000 + seq, disk: "vm/a", offset: (seq % 16) * 4096, data: pattern(4096, seq) }));
  }
  await Promise.all(appends);
}

describe("journal", () => {
  it("appends in group-committed batches and reports the durable seq", async () => {
    const j = await Journal.create(fresh(), { disks: [{ name: "vm/a", sizeBytes: 1 << 20 }], segmentBytes: 64 * 1024 });
    await fill(j, 100);
    assert.equal(j.durableSeq, 100);
    assert.ok(j.segments.length > 1, "segments roll at their size");
    await assert.rejects(j.append({ type: "zero", seq: 102, timeMs: 0, disk: "vm/a", offset: 0, length: 1 }), JournalOrderError);
    const view = await PitView.open(j, "vm/a", 50);
    assert.deepEqual(await view.read((50 % 16) * 4096, 4096), pattern(4096, 50));
    assert.deepEqual(await view.read((51 % 16) * 4096, 4096), pattern(4096, 51 - 16));
    await view.close();
    await j.close();
  });

  it("appends a batch with one promise, in order, and refuses a batch with a gap from the gap on", async () => {
    const j = await Journal.create(fresh(), { disks: [{ name: "vm/a", sizeBytes: 1 << 20 }] });
    const writes = Array.from({ length: 50 }, (_, i) => ({ type: "write" as const, seq: i + 1, timeMs: i, disk: "vm/a", offset: (i % 16) * 4096, data: pattern(4096, i + 1) }));
    await j.appendMany(writes);
    assert.equal(j.durableSeq, 50);
    const view = await PitView.open(j, "vm/a", 50);
    assert.deepEqual(await view.read((49 % 16) * 4096, 4096), pattern(4096, 50));
    await view.close();
    const gap = [
      { type: "zero" as const, seq: 51, timeMs: 0, disk: "vm/a", offset: 0, length: 4096 },
      { type: "zero" as const, seq: 53, timeMs: 0, disk: "vm/a", offset: 0, length: 4096 },
    ];
    await assert.rejects(j.appendMany(gap), JournalOrderError);
    await j.idle();
    assert.equal(j.lastSeq, 51, "the records before the gap are appended, as if they came alone");
    await j.close();
  });

  it("reopens from headers and from the snapshot alike", async () => {
    const dir = fresh();
    const j = await Journal.create(dir, { disks: [{ name: "vm/a", sizeBytes: 1 << 20 }], segmentBytes: 64 * 1024 });
    await fill(j, 40);
    await j.append({ type: "checkpoint", seq: 41, timeMs: 5000, id: "c1", tag: "before-upgrade" });
    await j.close();
    for (const useSnapshot of [true, false]) {
      const k = await Journal.open(dir, { useSnapshot });
      assert.equal(k.openReport.snapshot, useSnapshot ? "used" : "not used");
      assert.equal(k.lastSeq, 41);
      assert.deepEqual(k.checkpoints.list({ tag: "before-upgrade" }).map((c) => c.id), ["c1"]);
      const view = await PitView.open(k, "vm/a", 41);
      for (let b = 0; b < 16; b++) assert.deepEqual(await view.read(b * 4096, 4096), pattern(4096, b + 32 > 40 ? b + 16 : b + 32), `block ${b}`);
      await view.close();
      await k.close({ snapshot: false });
    }
  });

  it("snapshots the index beside appends, and a crash after it opens from it", async () => {
    const dir = fresh();
    await (await Journal.create(dir, { disks: [{ name: "vm/a", sizeBytes: 1 << 20 }], segmentBytes: 64 * 1024 })).close();
    const j = await Journal.open(dir, { snapshotEveryRecords: 20 });
    await fill(j, 50);
    await j.saveSnapshot(); // waits for the automatic ones too
    await fill(j, 7);
    // The process "dies" here: no close. A new one opens from the snapshot and scans the rest.
    const k = await Journal.open(dir);
    assert.equal(k.openReport.snapshot, "used");
    assert.ok(k.openReport.scannedRecords >= 7 && k.openReport.scannedRecords < 57, `scanned ${k.openReport.scannedRecords}`);
    assert.equal(k.lastSeq, 57);
    const view = await PitView.open(k, "vm/a", 57);
    for (let seq = 42; seq <= 57; seq++) assert.deepEqual(await view.read((seq % 16) * 4096, 4096), pattern(4096, seq));
    await view.close();
    await k.close();
  });

  it("cuts a torn tail and keeps everything before it", async () => {
    const dir = fresh();
    const j = await Journal.create(dir, { disks: [{ name: "vm/a", sizeBytes: 1 << 20 }], segmentBytes: 1 << 20 });
    await fill(j, 10);
    await j.close({ snapshot: false });
    // The process died writing a batch of three: it reached the file but for its last 100 bytes.
    const batchBytes = tearTail(dir, { fromSeq: 11, count: 3 });
    const seg = path.join(dir, "journal", j.segments.at(-1)!.name);
    fs.truncateSync(seg, fs.statSync(seg).size - 100);
    const v = await verifyJournal(dir);
    assert.ok(v.ok && v.tornTail, "verify reports the torn tail, not a fault");
    const k = await Journal.open(dir);
    assert.equal(k.lastSeq, 12, "whole records of the batch stay: they are above the durable mark and good");
    assert.equal(k.openReport.durableFloorSeq, 10);
    assert.equal(k.openReport.tornTail?.bytes, batchBytes / 3 - 100);
    await fill(k, 1);
    assert.equal(k.durableSeq, 13);
    await k.close();
    assert.equal((await verifyJournal(dir)).ok, true);
  });

  it("cuts a batch that landed out of order: good records after a bad one, above the mark, go with it", async () => {
    const dir = fresh();
    const j = await Journal.create(dir, { disks: [{ name: "vm/a", sizeBytes: 1 << 20 }], segmentBytes: 1 << 20 });
    await fill(j, 10);
    await j.close();
    tearTail(dir, { fromSeq: 11, count: 4, damageFirst: true });
    const v = await verifyJournal(dir);
    assert.equal(v.ok, true);
    assert.match(v.tornTail?.reason ?? "", /payload checksum mismatch/);
    const k = await Journal.open(dir);
    assert.equal(k.lastSeq, 10);
    assert.ok(k.openReport.tornTail);
    await k.close();
    assert.deepEqual((await verifyJournal(dir)).tornTail, undefined, "the cut was made for good");
  });

  it("refuses to open a journal corrupt in the middle, naming segment and offset", async () => {
    const dir = fresh();
    const j = await Journal.create(dir, { disks: [{ name: "vm/a", sizeBytes: 1 << 20 }], segmentBytes: 32 * 1024 });
    await fill(j, 30);
    await j.close({ snapshot: false });
    const first = j.segments[0]!;
    const file = path.join(dir, "journal", first.name);
    const fd = fs.openSync(file, "r+");
    fs.writeSync(fd, Buffer.from([0xff]), 0, 1, 32 + 48 + 4096 + 20); // inside record 2's header
    fs.closeSync(fd);
    await assert.rejects(Journal.open(dir), (err: unknown) => err instanceof JournalCorruptError && err.segment === first.name && err.offset === 32 + 48 + 4096);
    const v = await verifyJournal(dir);
    assert.equal(v.ok, false);
    assert.equal(v.fault?.segment, first.name);
  });

  it("refuses a journal with a missing segment: a gap is never skipped", async () => {
    const dir = fresh();
    const j = await Journal.create(dir, { disks: [{ name: "vm/a", sizeBytes: 1 << 20 }], segmentBytes: 16 * 1024 });
    await fill(j, 30);
    await j.close({ snapshot: false });
    const [, second, third] = j.segments;
    fs.rmSync(path.join(dir, "journal", second!.name));
    await assert.rejects(Journal.open(dir), (err: unknown) => err instanceof JournalCorruptError && err.segment === third!.name && /ends at/.test(err.message));
    assert.equal((await verifyJournal(dir)).fault?.segment, third!.name);
  });

  it("finds checkpoints by time, tag and age", async () => {
    const j = await Journal.create(fresh(), { disks: [{ name: "vm/a", sizeBytes: 1 << 20 }] });
    for (let i = 1; i <= 10; i++) await j.append({ type: "checkpoint", seq: i, timeMs: i * 1000, id: `c${i}`, ...(i === 4 ? { tag: "t" } : {}), consistent: i !== 7 });
    assert.equal(j.checkpoints.atOrBefore(7500)?.id, "c6", "the inconsistent one is skipped");
    assert.equal(j.checkpoints.ago(5.7, 10_000)?.id, "c4");
    assert.deepEqual(j.checkpoints.list({ fromMs: 3000, toMs: 5000 }).map((c) => c.id), ["c3", "c4", "c5"]);
    assert.equal(j.checkpoints.list({ tag: "t" })[0]?.seq, 4);
    await j.close();
  });
});
