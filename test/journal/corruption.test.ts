/**
 * journal-corruption: a journal of several segments with an index snapshot,
 * a durable mark and an overlay with flushed writes, damaged on purpose, each
 * case on a fresh copy: a flipped byte in a record's header or data (in a
 * middle segment and at the tail), a truncated segment (middle and last), a
 * deleted or damaged index snapshot, a damaged durable mark, a damaged
 * overlay allocation map and scratch file.
 *
 * For each it proves: `lifeline journal verify` (the CLI, its own process)
 * exits non-zero naming segment and offset, or passes where nothing durable
 * is lost; `Journal.open` either opens, recovering what can be (a torn tail
 * cut above the durable floor, the index rebuilt from headers with the same
 * PIT images), or refuses with a typed error naming the place; and no PIT
 * view, promotion or overlay read returns wrong bytes: every read is either
 * the model's image or an error naming the damaged record.
 */
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { Journal, JournalCorruptError, JournalError, Overlay, OverlayCorruptError, PitView, PointNotFoundError } from "../../src/journal/index.js";
import { DiskModel, flipByte, pattern, tempDir } from "./helpers.js";

const root = tempDir("journal-corruption");
after(() => fs.rmSync(root, { recursive: true, force: true }));
const driver = path.join(path.dirname(fileURLToPath(import.meta.url)), "cli-driver.js");
const run = promisify(execFile);
const SIZE = 1 << 20;
const DISKS = ["vm/a", "vm/b"];
const RECORDS = 150;
const OVERLAY_SEQ = 100;
const base = path.join(root, "base");
const model = new DiskModel(new Map(DISKS.map((d) => [d, SIZE])));
/** What the overlay over vm/a at OVERLAY_SEQ shows. */
let overlayImage: Buffer;
let segments: { name: string; firstSeq: number; lastSeq: number; sizeBytes: number }[];
let n = 0;

function copy(): string {
  const dir = path.join(root, `c${n++}`);
  fs.cpSync(base, dir, { recursive: true });
  return dir;
}
const file = (dir: string, name: string) => path.join(dir, "journal", name);
const scratchOf = (dir: string) => path.join(dir, "overlay-vm-a");

/** A WRITE record of `segment` other than its first and last: its seq, header offset and data offset. */
async function writeIn(dir: string, segment: { firstSeq: number; lastSeq: number }, which: "middle" | "last"): Promise<{ seq: number; pos: number; dataPos: number; disk: string }> {
  const j = await Journal.open(dir, { readOnly: true });
  try {
    const seqs = [];
    for (let s = segment.firstSeq; s <= segment.lastSeq; s++) if (j.record(s).type === 1) seqs.push(s);
    const seq = which === "last" ? seqs.at(-1)! : seqs[Math.floor(seqs.length / 2)]!;
    const r = j.record(seq);
    return { seq, pos: r.dataPos - 48, dataPos: r.dataPos, disk: DISKS[r.disk]! };
  } finally {
    await j.close();
  }
}

/** `lifeline journal verify`: its exit code and what it printed. */
async function verify(dir: string): Promise<{ code: number; out: string }> {
  try {
    const { stdout } = await run(process.execPath, [driver, "--run", "journal", "verify", dir]);
    return { code: 0, out: stdout };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, out: e.stdout + e.stderr };
  }
}

async function verifyFault(dir: string, segment: string, offset: number, why: RegExp): Promise<void> {
  const v = await verify(dir);
  assert.equal(v.code, 1, v.out);
  assert.match(v.out, new RegExp(`FAULT in ${segment} at offset ${offset}: `), v.out);
  assert.match(v.out, why, v.out);
}

const corruptAt = (segment: string, offset: number, why: RegExp) => (err: unknown) =>
  err instanceof JournalCorruptError && err.segment === segment && err.offset === offset && why.test(err.message);

/**
 * Every disk at every seq in `seqs`: each read is the model's image or an
 * error naming a damaged record, never other bytes. Returns the errors.
 */
async function viewsNeverWrong(j: Journal, seqs: number[]): Promise<JournalCorruptError[]> {
  const errors: JournalCorruptError[] = [];
  for (const seq of seqs) {
    for (const d of DISKS) {
      const view = await PitView.open(j, d, seq);
      try {
        const want = model.image(d, seq);
        for (let at = 0; at < SIZE; at += 64 * 1024) {
          try {
            assert.ok((await view.read(at, 64 * 1024)).equals(want.subarray(at, at + 64 * 1024)), `${d} at seq ${seq}, bytes ${at}+64 KiB, are the model's`);
          } catch (err) {
            if (!(err instanceof JournalCorruptError)) throw err;
            errors.push(err);
          }
        }
      } finally {
        await view.close();
      }
    }
  }
  return errors;
}

const everySeq = (to: number) => Array.from({ length: to + 1 }, (_, i) => i).filter((s) => s % 3 === 0 || s === to);

before(async () => {
  const j = await Journal.create(base, { disks: DISKS.map((name) => ({ name, sizeBytes: SIZE })), segmentBytes: 64 * 1024 });
  for (let seq = 1; seq <= RECORDS; seq++) {
    if (seq % 10 === 0) {
      await j.append({ type: "checkpoint", seq, timeMs: seq * 1000, id: `c${seq}` });
      model.ops.push({ seq, kind: "checkpoint" });
      continue;
    }
    const disk = DISKS[seq % 2]!;
    const length = 2000 + ((seq * 613) % 6000);
    const offset = (seq * 104_729) % (SIZE - length);
    if (seq % 7 === 0) {
      await j.append({ type: "zero", seq, timeMs: seq * 1000, disk, offset, length });
      model.ops.push({ seq, kind: "zero", disk, offset, length });
    } else {
      const data = pattern(length, seq);
      await j.append({ type: "write", seq, timeMs: seq * 1000, disk, offset, data });
      model.ops.push({ seq, kind: "write", disk, offset, data });
    }
  }
  const view = await PitView.open(j, "vm/a", OVERLAY_SEQ);
  const o = await Overlay.open(view, path.join(base, "overlay-vm-a"), { blockBytes: 16 * 1024 });
  overlayImage = model.image("vm/a", OVERLAY_SEQ);
  for (const [at, len, seed] of [[5000, 20_000, 1], [200_000, 16_384, 2], [700_000, 3000, 3]] as const) {
    await o.write(at, pattern(len, 900 + seed));
    pattern(len, 900 + seed).copy(overlayImage, at);
    await o.flush();
  }
  await o.close();
  await view.close();
  segments = j.segments;
  await j.close();
  assert.ok(segments.length >= 5, `several segments (${segments.length})`);
  for (const f of ["index.snap", "durable.mark"]) assert.ok(fs.existsSync(file(base, f)), f);
});

describe("journal corruption", () => {
  it("the undamaged journal verifies, and every view and the overlay are the model's", async () => {
    const v = await verify(base);
    assert.equal(v.code, 0, v.out);
    const j = await Journal.open(base, { readOnly: true });
    assert.deepEqual(await viewsNeverWrong(j, everySeq(RECORDS)), []);
    await j.close();
  });

  it("a flipped byte in a record header in a middle segment: verify names it; the open from headers refuses, the open from the snapshot errors on reading it", async () => {
    const dir = copy();
    const seg = segments[2]!;
    const bad = await writeIn(dir, seg, "middle");
    flipByte(file(dir, seg.name), bad.pos + 33);
    await verifyFault(dir, seg.name, bad.pos, /header checksum mismatch/);
    await assert.rejects(Journal.open(dir, { useSnapshot: false }), corruptAt(seg.name, bad.pos, /header checksum mismatch/));
    // The snapshot covers the record, so the open does not read its header; the first read of the record does.
    const j = await Journal.open(dir, { readOnly: true });
    try {
      const errors = await viewsNeverWrong(j, everySeq(RECORDS));
      assert.ok(errors.length > 0);
      for (const e of errors) assert.ok(corruptAt(seg.name, bad.pos, new RegExp(`header checksum mismatch at seq ${bad.seq}`))(e), e.message);
    } finally {
      await j.close();
    }
  });

  it("a flipped byte in record data in a middle segment: verify names it; the open succeeds, and reading it errors instead of returning it", async () => {
    const dir = copy();
    const seg = segments[2]!;
    const bad = await writeIn(dir, seg, "middle");
    flipByte(file(dir, seg.name), bad.dataPos + 17);
    await verifyFault(dir, seg.name, bad.pos, new RegExp(`payload checksum mismatch at seq ${bad.seq}`));
    const j = await Journal.open(dir);
    try {
      const errors = await viewsNeverWrong(j, everySeq(RECORDS));
      assert.ok(errors.length > 0, "the damaged record was read, and refused");
      for (const e of errors) assert.ok(corruptAt(seg.name, bad.pos, new RegExp(`payload checksum mismatch at seq ${bad.seq}`))(e), e.message);
      // Promotion reads the same records: it stops at the damage rather than write it into the replica.
      await assert.rejects(j.promote({ throughSeq: RECORDS, ignorePins: true }), corruptAt(seg.name, bad.pos, /payload checksum mismatch/));
      assert.ok(j.appliedThroughSeq < bad.seq);
      // The replica is part way: older points are refused, the newest is right or refused where the damage is.
      await assert.rejects(PitView.open(j, "vm/a", bad.seq - 1), PointNotFoundError);
      for (const e of await viewsNeverWrong(j, [RECORDS])) assert.equal(e.offset, bad.pos);
    } finally {
      await j.close({ snapshot: false });
    }
    // The next open finishes the promotion, and refuses at the same place.
    await assert.rejects(Journal.open(dir), corruptAt(seg.name, bad.pos, /payload checksum mismatch/));
  });

  it("a flipped byte at the tail (the last durable record's data): verify names it, the open refuses; without the mark and snapshot it is cut as a torn tail", async () => {
    const dir = copy();
    const seg = segments.at(-1)!;
    const bad = await writeIn(dir, seg, "last");
    flipByte(file(dir, seg.name), bad.dataPos + 1);
    await verifyFault(dir, seg.name, bad.pos, /payload checksum mismatch .*reported durable/);
    await assert.rejects(Journal.open(dir), corruptAt(seg.name, bad.pos, /payload checksum mismatch .*reported durable/));
    // The operator gives up what follows, as the hint says: the open cuts it and says so.
    fs.rmSync(file(dir, "durable.mark"));
    fs.rmSync(file(dir, "index.snap"));
    const j = await Journal.open(dir);
    try {
      assert.equal(j.lastSeq, bad.seq - 1);
      assert.deepEqual([j.openReport.tornTail?.segment, j.openReport.tornTail?.offset], [seg.name, bad.pos]);
      assert.deepEqual(await viewsNeverWrong(j, everySeq(bad.seq - 1)), []);
    } finally {
      await j.close();
    }
  });

  it("a truncated middle segment: verify names it, the open refuses", async () => {
    const dir = copy();
    const seg = segments[1]!;
    const bad = await writeIn(dir, seg, "middle");
    fs.truncateSync(file(dir, seg.name), bad.dataPos + 10);
    await verifyFault(dir, seg.name, bad.pos, /truncated record payload/);
    for (const useSnapshot of [true, false]) await assert.rejects(Journal.open(dir, { useSnapshot }), corruptAt(seg.name, bad.pos, /truncated record payload/));
  });

  it("a truncated last segment: durable records are missing, so both refuse; without the mark and snapshot the open keeps what is left", async () => {
    const dir = copy();
    const seg = segments.at(-1)!;
    const bad = await writeIn(dir, seg, "middle");
    fs.truncateSync(file(dir, seg.name), bad.dataPos + 10);
    await verifyFault(dir, seg.name, bad.pos, /truncated record payload .*reported durable/);
    await assert.rejects(Journal.open(dir), corruptAt(seg.name, bad.pos, /truncated record payload .*reported durable/));
    fs.rmSync(file(dir, "index.snap"));
    fs.rmSync(file(dir, "durable.mark"));
    // Now nothing says those records were durable: the cut is a torn tail, and what precedes it is whole.
    const j = await Journal.open(dir);
    try {
      assert.equal(j.lastSeq, bad.seq - 1);
      assert.equal(j.openReport.tornTail?.offset, bad.pos);
      assert.deepEqual(await viewsNeverWrong(j, everySeq(bad.seq - 1)), []);
    } finally {
      await j.close();
    }
    assert.equal((await verify(dir)).code, 0);
  });

  it("a deleted index snapshot: rebuilt from the headers, the same images at every point", async () => {
    const dir = copy();
    fs.rmSync(file(dir, "index.snap"));
    assert.equal((await verify(dir)).code, 0);
    const j = await Journal.open(dir);
    try {
      assert.notEqual(j.openReport.snapshot, "used");
      assert.equal(j.openReport.scannedRecords, RECORDS);
      assert.deepEqual([j.lastSeq, j.checkpoints.count], [RECORDS, RECORDS / 10]);
      assert.deepEqual(await viewsNeverWrong(j, everySeq(RECORDS)), []);
    } finally {
      await j.close();
    }
    assert.ok(fs.existsSync(file(dir, "index.snap")), "the close wrote it again");
  });

  it("a damaged index snapshot is ignored, with the reason; the images are the same", async () => {
    const dir = copy();
    const snap = file(dir, "index.snap");
    flipByte(snap, Math.floor(fs.statSync(snap).size / 2));
    assert.equal((await verify(dir)).code, 0);
    const j = await Journal.open(dir);
    try {
      assert.match(j.openReport.snapshot, /checksum|damaged|bad/i);
      assert.equal(j.lastSeq, RECORDS);
      assert.deepEqual(await viewsNeverWrong(j, everySeq(RECORDS)), []);
    } finally {
      await j.close();
    }
  });

  it("a damaged durable mark: the open and verify refuse, naming the file", async () => {
    const dir = copy();
    flipByte(file(dir, "durable.mark"), 9);
    await assert.rejects(Journal.open(dir), (err: unknown) => err instanceof JournalError && /durable\.mark is damaged \(checksum mismatch\)/.test(err.message));
    const v = await verify(dir);
    assert.equal(v.code, 1);
    assert.match(v.out, /durable\.mark is damaged/);
  });

  it("a damaged overlay allocation map before its end: the overlay refuses to open, naming file and offset", async () => {
    const dir = copy();
    const map = `${scratchOf(dir)}.map`;
    assert.ok(fs.statSync(map).size >= 32, "several entries");
    flipByte(map, 3);
    const j = await Journal.open(dir, { readOnly: true });
    const view = await PitView.open(j, "vm/a", OVERLAY_SEQ);
    try {
      await assert.rejects(Overlay.open(view, scratchOf(dir), { blockBytes: 16 * 1024 }), (err: unknown) => err instanceof OverlayCorruptError && err.file === map && err.offset === 0);
    } finally {
      await view.close();
      await j.close();
    }
  });

  it("an undamaged overlay reads back its flushed writes over the view", async () => {
    const dir = copy();
    const j = await Journal.open(dir, { readOnly: true });
    const view = await PitView.open(j, "vm/a", OVERLAY_SEQ);
    const o = await Overlay.open(view, scratchOf(dir), { blockBytes: 16 * 1024 });
    try {
      assert.ok((await o.read(0, SIZE)).equals(overlayImage));
    } finally {
      await o.close();
      await view.close();
      await j.close();
    }
  });

  it("a damaged last entry of the overlay map looks like a crash: every block is checked at open, and the flushed writes read back", async () => {
    const dir = copy();
    const map = `${scratchOf(dir)}.map`;
    flipByte(map, fs.statSync(map).size - 8);
    const j = await Journal.open(dir, { readOnly: true });
    const view = await PitView.open(j, "vm/a", OVERLAY_SEQ);
    try {
      const o = await Overlay.open(view, scratchOf(dir), { blockBytes: 16 * 1024 });
      try {
        assert.equal(o.openReport.clean, false);
        assert.ok(o.openReport.blocksChecked >= 3);
        assert.equal(o.openReport.blocksChanged, 0);
        assert.ok((await o.read(0, SIZE)).equals(overlayImage));
      } finally {
        await o.close();
      }
    } finally {
      await view.close();
      await j.close();
    }
  });

  it("a flipped byte in the overlay's scratch file is an error naming file and block, never data; other blocks read right", async () => {
    const dir = copy();
    flipByte(scratchOf(dir), 5000 + 100);
    const j = await Journal.open(dir, { readOnly: true });
    const view = await PitView.open(j, "vm/a", OVERLAY_SEQ);
    try {
      const o = await Overlay.open(view, scratchOf(dir), { blockBytes: 16 * 1024 });
      try {
        await assert.rejects(o.read(0, SIZE), (err: unknown) => err instanceof OverlayCorruptError && err.file === scratchOf(dir) && err.offset === 0);
        await assert.rejects(o.read(5100, 10), OverlayCorruptError);
        assert.ok((await o.read(200_000, 16_384)).equals(overlayImage.subarray(200_000, 216_384)));
      } finally {
        await o.close().catch(() => undefined);
      }
    } finally {
      await view.close();
      await j.close();
    }
  });
});
