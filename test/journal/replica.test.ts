import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { FileDevice } from "../../src/blockdev/index.js";
import { Journal, type JournalEvent, Overlay, PitView } from "../../src/journal/index.js";
import { DiskModel, pattern, tempDir } from "./helpers.js";

const root = tempDir("journal-replica");
after(() => fs.rmSync(root, { recursive: true, force: true }));
let n = 0;
const SIZE = 256 * 1024;

async function filled(count: number, options: { segmentBytes?: number; limitBytes?: number } = {}): Promise<{ dir: string; j: Journal; model: DiskModel }> {
  const dir = path.join(root, `g${n++}`);
  const j = await Journal.create(dir, { disks: [{ name: "d", sizeBytes: SIZE }], segmentBytes: options.segmentBytes ?? 16 * 1024, ...(options.limitBytes ? { limitBytes: options.limitBytes } : {}) });
  const model = new DiskModel(new Map([["d", SIZE]]));
  for (let seq = 1; seq <= count; seq++) {
    const data = pattern(4096 + (seq % 3) * 100, seq);
    const offset = ((seq * 7) % 60) * 4096;
    await j.append({ type: "write", seq, timeMs: seq * 1000, disk: "d", offset, data });
    model.ops.push({ seq, kind: "write", disk: "d", offset, data });
  }
  return { dir, j, model };
}

async function assertView(j: Journal, model: DiskModel, seq: number): Promise<void> {
  const view = await PitView.open(j, "d", seq);
  assert.ok((await view.read(0, SIZE)).equals(model.image("d", seq)), `view at ${seq}`);
  await view.close();
}

describe("promotion", () => {
  it("applies what is older than the history window and deletes whole segments", async () => {
    const { j, model } = await filled(40);
    const before = j.segments.length;
    const r = await j.promote({ nowMs: 30_500 + j.config.historyWindowMs });
    assert.equal(r.throughSeq, 30);
    assert.equal(j.appliedThroughSeq, 30);
    assert.ok(r.deletedSegments.length > 0 && j.segments.length === before - r.deletedSegments.length);
    const replica = j.replica(0);
    assert.ok((await replica.read(0, SIZE)).equals(model.image("d", 30)), "the replica holds the state at the promoted point");
    for (const seq of [30, 35, 40]) await assertView(j, model, seq);
    await j.close();
  });

  it("promotes on its own as history passes the window", async () => {
    const { dir, j, model } = await filled(10);
    await j.close();
    // Records are timed 1 s..10 s after the epoch: with a 1 ms window, all of them are past it.
    const k = await Journal.open(dir, { historyWindowMs: 1, promoteEveryMs: 5 });
    let guard: NodeJS.Timeout | undefined;
    const promoted = new Promise<void>((resolve, reject) => {
      k.on((e) => e.type === "promoted" && resolve());
      // The journal's timer never keeps a process alive; this one does, and bounds the wait.
      guard = setTimeout(() => reject(new Error("no promotion within 5 s")), 5000);
    });
    await promoted.finally(() => clearTimeout(guard));
    assert.equal(k.appliedThroughSeq, 10);
    assert.ok((await k.replica(0).read(0, SIZE)).equals(model.image("d", 10)));
    await k.close();
  });

  it("finishes a promotion cut short by a crash before serving anything", async () => {
    const { dir, j, model } = await filled(20);
    await j.close();
    // The crash: promotingToSeq persisted, records 1..9 of the 12 already in the replica.
    fs.writeFileSync(path.join(dir, "state.json"), JSON.stringify({ appliedThroughSeq: 0, promotingToSeq: 12, pins: [] }));
    const replica = await FileDevice.open(path.join(dir, "replica", "d.raw"));
    await replica.write(0, model.image("d", 9));
    await replica.close();
    const k = await Journal.open(dir);
    assert.equal(k.appliedThroughSeq, 12);
    for (const seq of [12, 13, 20]) await assertView(k, model, seq);
    await k.close();
  });

  it("never passes a pin, and a pin survives a restart", async () => {
    const { dir, j, model } = await filled(20);
    const pin = await j.pin(7, "test-1", "test");
    assert.equal((await j.promote({ throughSeq: 20 })).throughSeq, 7);
    await j.close();
    const k = await Journal.open(dir);
    assert.deepEqual(k.pins.map((p) => p.id), [pin.id]);
    assert.equal((await k.promote({ throughSeq: 20 })).throughSeq, 7);
    await k.unpin(pin.id);
    assert.equal((await k.promote({ throughSeq: 20 })).throughSeq, 20);
    await assertView(k, model, 20);
    await k.close();
  });
});

describe("limits", () => {
  it("warns, then shrinks history at the limit: a test pin is revoked, a failover pin is not passed", async () => {
    const { j } = await filled(1, { segmentBytes: 8 * 1024, limitBytes: 64 * 1024 });
    const events: JournalEvent[] = [];
    j.on((e) => events.push(e));
    const testPin = await j.pin(1, "test-1", "test");
    let seq = 1;
    const write = async (count: number) => {
      for (let i = 0; i < count; i++) await j.append({ type: "write", seq: ++seq, timeMs: seq, disk: "d", offset: 0, data: pattern(4000, seq) });
    };
    await write(12);
    assert.ok(events.some((e) => e.type === "limit-warning"));
    await write(6);
    await j.idle(); // the shrink runs in the background
    assert.ok(events.some((e) => e.type === "limit-reached"));
    assert.ok(events.some((e) => e.type === "pin-revoked" && e.pin.id === testPin.id));
    assert.ok(j.appliedThroughSeq > 1 && j.sizeBytes < 64 * 1024);
    const failoverPin = await j.pin(j.appliedThroughSeq + 1, "failover-1", "failover");
    await write(30);
    await j.idle();
    assert.ok(events.some((e) => e.type === "pin-blocks-limit" && e.pin.id === failoverPin.id));
    assert.ok(j.appliedThroughSeq <= failoverPin.seq);
    assert.equal(j.durableSeq, seq, "writes are never refused");
    await j.close();
  });
});

describe("commit", () => {
  it("folds the journal up to a seq and an overlay into the replica, and can be run again", async () => {
    const { j, model } = await filled(30);
    const view = await PitView.open(j, "d", 18);
    const scratch = path.join(root, `commit-scratch-${n++}`);
    const overlay = await Overlay.open(view, scratch);
    await overlay.write(10_000, pattern(20_000, 99));
    await overlay.writeZeroes(128 * 1024, 64 * 1024);
    await overlay.flush();
    const want = model.image("d", 18);
    pattern(20_000, 99).copy(want, 10_000);
    want.fill(0, 128 * 1024, 192 * 1024);
    await view.close();
    const phases = new Set<string>();
    await j.commit(18, new Map([["d", overlay]]), (phase) => phases.add(phase));
    assert.ok(phases.has("journal") && phases.has("overlay d"));
    assert.ok((await j.replica(0).read(0, SIZE)).equals(want));
    await j.commit(18, new Map([["d", overlay]]));
    assert.ok((await j.replica(0).read(0, SIZE)).equals(want));
    assert.equal(j.segments.length, 0);
    await overlay.close();
    await j.close();
  });

  it("resumes a commit cut short after the journal phase", async () => {
    const { dir, j, model } = await filled(30);
    await j.promote({ throughSeq: 12 });
    await j.close();
    // The crash: the journal was folded through 12, the overlay copy had not finished.
    const state = JSON.parse(fs.readFileSync(path.join(dir, "state.json"), "utf8")) as Record<string, unknown>;
    fs.writeFileSync(path.join(dir, "state.json"), JSON.stringify({ ...state, commit: { seq: 12, phase: "overlay" } }));
    const k = await Journal.open(dir);
    const scratch = path.join(root, `resume-scratch-${n++}`);
    const overlay = await Overlay.open(await PitView.open(k, "d", 12), scratch);
    await overlay.write(4096, pattern(8192, 7));
    const want = model.image("d", 12);
    pattern(8192, 7).copy(want, 4096);
    await assert.rejects(k.commit(20, new Map()), /under way/);
    await k.commit(12, new Map([["d", overlay]]));
    assert.ok((await k.replica(0).read(0, SIZE)).equals(want));
    await overlay.close();
    await k.close();
  });
});
