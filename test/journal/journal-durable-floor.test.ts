/**
 * journal-durable-floor: a bad record that was reported durable is corruption
 * wherever it lies, even a few records from the end of the last segment,
 * where only the batch in flight at a crash can be torn. The open refuses it
 * naming segment and offset, cutting nothing; `journal verify` reports it and
 * exits non-zero; with and without the index snapshot. Built as the bug was
 * reproduced: ~600 records of a few KiB in 4 MiB segments, closed cleanly,
 * one byte flipped early in the last segment.
 */
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { Journal, JournalCorruptError, JournalError, verifyJournal } from "../../src/journal/index.js";
import { decodeDurableMark } from "../../src/journal/durable-mark.js";
import { flipByte, pattern, tearTail, tempDir } from "./helpers.js";

const root = tempDir("journal-durable-floor");
after(() => fs.rmSync(root, { recursive: true, force: true }));
const driver = path.join(path.dirname(fileURLToPath(import.meta.url)), "cli-driver.js");
const run = promisify(execFile);
const RECORDS = 601;
const base = path.join(root, "base");
let n = 0;
/** The last segment, its first seq, and record `bad` early in it (header offset and payload offset). */
let last: { name: string; firstSeq: number; sizeBytes: number };
let first: { name: string };
let bad: { seq: number; pos: number; dataPos: number };
let early: { pos: number; dataPos: number };

/** A fresh copy of the cleanly closed journal. */
function copy(): string {
  const dir = path.join(root, `c${n++}`);
  fs.cpSync(base, dir, { recursive: true });
  return dir;
}
const seg = (dir: string, name: string) => path.join(dir, "journal", name);
function markSeq(dir: string): number {
  const mark = decodeDurableMark(fs.readFileSync(seg(dir, "durable.mark")));
  assert.notEqual(typeof mark, "string", `durable.mark: ${String(mark)}`);
  return (mark as { seq: number }).seq;
}
const isCorrupt = (segment: string, offset: number, why: RegExp) => (err: unknown) =>
  err instanceof JournalCorruptError && err.segment === segment && err.offset === offset && why.test(err.message) && /not a torn write/.test(err.hint ?? "");

before(async () => {
  const j = await Journal.create(base, { disks: [{ name: "vm/a", sizeBytes: 64 << 20 }], segmentBytes: 4 << 20 });
  const appends: Promise<void>[] = [];
  for (let seq = 1; seq <= RECORDS; seq++) {
    const data = pattern(20_000 + (seq % 5) * 1000, seq);
    appends.push(j.append({ type: "write", seq, timeMs: seq, disk: "vm/a", offset: (seq % 1000) * 65536, data }));
  }
  await Promise.all(appends);
  await j.close();
  const k = await Journal.open(base, { readOnly: true });
  const segments = k.segments;
  assert.ok(segments.length >= 3, "several segments");
  last = segments.at(-1)!;
  first = segments[0]!;
  bad = { seq: last.firstSeq + 1, pos: k.record(last.firstSeq + 1).dataPos - 48, dataPos: k.record(last.firstSeq + 1).dataPos };
  early = { pos: k.record(5).dataPos - 48, dataPos: k.record(5).dataPos };
  await k.close();
  assert.ok(RECORDS - bad.seq >= 20, `durable records follow the bad one (${RECORDS - bad.seq})`);
});

describe("journal durable floor", () => {
  it("refuses a bad durable record early in the last segment, without the snapshot: nothing is cut", async () => {
    const dir = copy();
    fs.rmSync(seg(dir, "index.snap"));
    flipByte(seg(dir, last.name), bad.dataPos + 100);
    const why = new RegExp(`payload checksum mismatch at seq ${bad.seq}; seq ${RECORDS} was reported durable`);
    await assert.rejects(Journal.open(dir), isCorrupt(last.name, bad.pos, why));
    await assert.rejects(Journal.open(dir, { readOnly: true }), isCorrupt(last.name, bad.pos, why));
    assert.equal(fs.statSync(seg(dir, last.name)).size, last.sizeBytes, "the open cut nothing");
    const v = await verifyJournal(dir);
    assert.equal(v.ok, false);
    assert.deepEqual([v.fault?.segment, v.fault?.offset, v.tornTail], [last.name, bad.pos, undefined]);
  });

  it("refuses it with the snapshot too: the tail window is checked whether or not the snapshot covers it", async () => {
    const dir = copy();
    flipByte(seg(dir, last.name), bad.dataPos + 100);
    await assert.rejects(Journal.open(dir), isCorrupt(last.name, bad.pos, /payload checksum mismatch/));
    assert.equal(fs.statSync(seg(dir, last.name)).size, last.sizeBytes);
  });

  it("`lifeline journal verify` exits non-zero naming segment and offset", async () => {
    const dir = copy();
    flipByte(seg(dir, last.name), bad.dataPos + 100);
    await assert.rejects(run(process.execPath, [driver, "--run", "journal", "verify", dir]), (err: { code: number; stdout: string }) => {
      assert.equal(err.code, 1);
      assert.match(err.stdout, new RegExp(`FAULT in ${last.name} at offset ${bad.pos}: payload checksum mismatch at seq ${bad.seq}; seq ${RECORDS} was reported durable`));
      assert.doesNotMatch(err.stdout, /torn tail|\bok\b/);
      return true;
    });
  });

  it("without a durable mark, the snapshot vouches for what it covers (a journal from before marks)", async () => {
    const dir = copy();
    fs.rmSync(seg(dir, "durable.mark"));
    flipByte(seg(dir, last.name), bad.dataPos + 100);
    await assert.rejects(Journal.open(dir), isCorrupt(last.name, bad.pos, /is in the index snapshot/));
    assert.equal((await verifyJournal(dir)).fault?.offset, bad.pos);
  });

  it("a snapshot over a record damaged later, outside the tail window: the open does not read it, verify finds it", async () => {
    const dir = copy();
    flipByte(seg(dir, first.name), early.dataPos + 10);
    for (const useSnapshot of [true, false]) {
      const j = await Journal.open(dir, { useSnapshot });
      assert.equal(j.lastSeq, RECORDS, "payloads outside the last segment's tail window are verify's job");
      await j.close({ snapshot: false });
    }
    const v = await verifyJournal(dir);
    assert.equal(v.ok, false);
    assert.deepEqual([v.fault?.segment, v.fault?.offset], [first.name, early.pos]);
    assert.match(v.fault?.reason ?? "", /payload checksum mismatch at seq 5; seq 601 was reported durable/);
  });

  it("refuses a journal that ends before the durable mark (a cut or a lost last segment)", async () => {
    const dir = copy();
    fs.rmSync(seg(dir, "index.snap"));
    fs.truncateSync(seg(dir, last.name), bad.pos);
    const missing = new RegExp(`ends at seq ${bad.seq - 1}, but seq ${RECORDS} was reported durable.*records ${bad.seq} to ${RECORDS} are missing`);
    await assert.rejects(Journal.open(dir), (err: unknown) => err instanceof JournalCorruptError && err.segment === last.name && err.offset === bad.pos && missing.test(err.message));
    assert.match((await verifyJournal(dir)).fault?.reason ?? "", missing);
    fs.rmSync(seg(dir, last.name));
    await assert.rejects(Journal.open(dir), (err: unknown) => err instanceof JournalCorruptError && /records \d+ to 601 are missing/.test(err.message));
    assert.equal((await verifyJournal(dir)).ok, false);
  });

  it("still cuts a torn batch above the mark, after the durable records, and opens by itself", async () => {
    const dir = copy();
    tearTail(dir, { fromSeq: RECORDS + 1, count: 5, payloadBytes: 9000, keepBytes: 3 * 9048 + 4000 });
    assert.equal((await verifyJournal(dir)).ok, true);
    const j = await Journal.open(dir);
    assert.equal(j.lastSeq, RECORDS + 3, "the whole records of the batch stay");
    assert.equal(j.openReport.tornTail?.offset, last.sizeBytes + 3 * 9048);
    await j.close();
    assert.equal(markSeq(dir), RECORDS + 3, "the close marked them durable");
  });

  it("keeps the mark behind the durable seq while appending, and up to it soon after", async () => {
    const dir = copy();
    const j = await Journal.open(dir, { durableMarkEveryMs: 5 });
    for (let seq = RECORDS + 1; seq <= RECORDS + 200; seq++) {
      await j.append({ type: "zero", seq, timeMs: seq, disk: "vm/a", offset: 0, length: 4096 });
      assert.ok(markSeq(dir) <= j.durableSeq, "the mark never claims more than is durable");
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(markSeq(dir), RECORDS + 200);
    // A crash now (no close): a bad record at or below the mark is not a torn tail.
    const file = seg(dir, j.segments.at(-1)!.name);
    const size = fs.statSync(file).size;
    flipByte(file, size - 48 + 20);
    await assert.rejects(Journal.open(dir, { readOnly: true }), (err: unknown) => err instanceof JournalCorruptError && /at seq 801; seq 801 was reported durable/.test(err.message));
    await j.close({ snapshot: false }).catch(() => undefined);
  });

  it("refuses a damaged mark rather than trusting checksums alone", async () => {
    const dir = copy();
    flipByte(seg(dir, "durable.mark"), 9);
    await assert.rejects(Journal.open(dir), (err: unknown) => err instanceof JournalError && /durable\.mark is damaged \(checksum mismatch\)/.test(err.message) && /remove durable\.mark/.test(err.hint ?? ""));
    await assert.rejects(verifyJournal(dir), JournalError);
  });
});
