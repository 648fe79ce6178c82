/**
 * Model-based property test: random streams of writes (aligned or not,
 * overlapping), zeroes, trims and checkpoints over several disks, with random
 * promotions, pins, reopens (with and without the snapshot) and torn tails;
 * at random seqs every PitView must equal the model's image byte for byte,
 * and an Overlay over a view must show its writes without changing the view.
 */
import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import fc from "fast-check";
import { Journal, Overlay, PitView } from "../../src/journal/index.js";
import { DiskModel, pattern, tearTail, tempDir } from "./helpers.js";

const root = tempDir("journal-model");
after(() => fs.rmSync(root, { recursive: true, force: true }));
const SEED = Number(process.env.JOURNAL_SEED ?? 20261203);
const DISKS = new Map([
  ["vm1/a", 96 * 1024],
  ["vm2/b", 100_000],
]);
const SEGMENT_BYTES = 24 * 1024;

type Action =
  | { t: "write"; disk: number; at: number; len: number; aligned: boolean }
  | { t: "zero" | "trim"; disk: number; at: number; len: number }
  | { t: "checkpoint" }
  | { t: "promote"; frac: number }
  | { t: "pin"; frac: number }
  | { t: "unpin" }
  | { t: "reopen"; snapshot: boolean }
  | { t: "tear"; bytes: number }
  | { t: "check"; disk: number; frac: number; overlay: boolean };

const action: fc.Arbitrary<Action> = fc.oneof(
  { weight: 10, arbitrary: fc.record({ t: fc.constant("write" as const), disk: fc.nat(1), at: fc.double({ min: 0, max: 1, noNaN: true }), len: fc.integer({ min: 1, max: 9000 }), aligned: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constantFrom("zero" as const, "trim" as const), disk: fc.nat(1), at: fc.double({ min: 0, max: 1, noNaN: true }), len: fc.integer({ min: 1, max: 70_000 }) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("checkpoint" as const) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("promote" as const), frac: fc.double({ min: 0, max: 1, noNaN: true }) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("pin" as const), frac: fc.double({ min: 0, max: 1, noNaN: true }) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("unpin" as const) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("reopen" as const), snapshot: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("tear" as const), bytes: fc.integer({ min: 1, max: 200 }) }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant("check" as const), disk: fc.nat(1), frac: fc.double({ min: 0, max: 1, noNaN: true }), overlay: fc.boolean() }) },
);

let run = 0;

async function runActions(actions: Action[]): Promise<void> {
  const dir = path.join(root, `run-${run++}`);
  const names = [...DISKS.keys()];
  const model = new DiskModel(DISKS);
  let j = await Journal.create(dir, { disks: names.map((name) => ({ name, sizeBytes: DISKS.get(name)! })), segmentBytes: SEGMENT_BYTES });
  const reopen = async (snapshot: boolean) => {
    j = await Journal.open(dir, { useSnapshot: snapshot, tornWindowBytes: SEGMENT_BYTES * 2 });
  };
  let seq = 0;
  const pins: string[] = [];
  try {
    for (const a of [...actions, { t: "check", disk: 0, frac: 1, overlay: false } as Action]) {
      switch (a.t) {
        case "write": {
          const size = DISKS.get(names[a.disk]!)!;
          let len = Math.min(a.len, size);
          if (a.aligned) len = Math.max(4096, len - (len % 4096));
          let at = Math.floor(a.at * (size - len));
          if (a.aligned) at -= at % 4096;
          const data = pattern(len, ++seq);
          await j.append({ type: "write", seq, timeMs: seq, disk: names[a.disk]!, offset: at, data });
          model.ops.push({ seq, kind: "write", disk: names[a.disk]!, offset: at, data });
          break;
        }
        case "zero":
        case "trim": {
          const size = DISKS.get(names[a.disk]!)!;
          const len = Math.min(a.len, size);
          const at = Math.floor(a.at * (size - len));
          await j.append({ type: a.t, seq: ++seq, timeMs: seq, disk: names[a.disk]!, offset: at, length: len });
          model.ops.push({ seq, kind: "zero", disk: names[a.disk]!, offset: at, length: len });
          break;
        }
        case "checkpoint":
          await j.append({ type: "checkpoint", seq: ++seq, timeMs: seq, id: `c${seq}` });
          model.ops.push({ seq, kind: "checkpoint" });
          break;
        case "promote": {
          const through = j.appliedThroughSeq + Math.floor(a.frac * (j.durableSeq - j.appliedThroughSeq));
          const minPin = Math.min(...j.pins.map((p) => p.seq));
          const r = await j.promote({ throughSeq: through });
          assert.equal(r.throughSeq, Math.max(Math.min(through, minPin), r.fromSeq - 1), "promotion stops at the oldest pin");
          break;
        }
        case "pin": {
          const at = j.appliedThroughSeq + Math.floor(a.frac * (j.lastSeq - j.appliedThroughSeq));
          pins.push((await j.pin(at, "model-test", "test")).id);
          break;
        }
        case "unpin":
          if (pins.length > 0) await j.unpin(pins.shift()!);
          break;
        case "reopen":
          await j.close({ snapshot: a.snapshot });
          await reopen(a.snapshot);
          assert.equal(j.lastSeq, seq);
          break;
        case "tear": {
          // The process dies mid-batch: the batch after the last durable record reaches the file but for its last bytes.
          await j.close({ snapshot: false });
          const segDir = path.join(dir, "journal");
          const last = fs.readdirSync(segDir).filter((n) => n.endsWith(".seg")).sort().at(-1);
          if (last) {
            const batchBytes = tearTail(dir, { fromSeq: seq + 1, count: 1, payloadBytes: 300 });
            const file = path.join(segDir, last);
            fs.truncateSync(file, fs.statSync(file).size - Math.min(a.bytes, batchBytes));
          }
          await reopen(false);
          if (last) assert.ok(j.openReport.tornTail, "the torn batch is cut");
          assert.equal(j.lastSeq, seq, "nothing durable is lost");
          break;
        }
        case "check":
          await check(j, model, names[a.disk]!, j.appliedThroughSeq + Math.round(a.frac * (j.lastSeq - j.appliedThroughSeq)), a.overlay ? path.join(dir, `scratch-${seq}`) : undefined);
          break;
      }
    }
  } finally {
    await j.close();
  }
}

async function check(j: Journal, model: DiskModel, disk: string, at: number, scratch: string | undefined): Promise<void> {
  const view = await PitView.open(j, disk, at);
  const want = model.image(disk, at);
  assert.ok((await view.read(0, view.size)).equals(want), `view of ${disk} at seq ${at} equals the model`);
  let pos = 0;
  for (const e of await view.extents(0, view.size)) {
    if (e.zero) assert.ok(want.subarray(pos, pos + e.length).equals(Buffer.alloc(e.length)), `extent at ${pos} said zero`);
    pos += e.length;
  }
  assert.equal(pos, view.size);
  if (scratch) {
    const overlay = await Overlay.open(view, scratch, { blockBytes: 8192 });
    const data = pattern(5000, at);
    await overlay.write(3000, data);
    await overlay.writeZeroes(20_000, 17_000);
    const expect = Buffer.from(want);
    data.copy(expect, 3000);
    expect.fill(0, 20_000, 37_000);
    assert.ok((await overlay.read(0, overlay.size)).equals(expect), "overlay shows its writes over the view");
    assert.ok((await view.read(0, view.size)).equals(want), "overlay writes never reach the view");
    await overlay.close();
    await Overlay.discard(scratch);
  }
  await view.close();
}

describe("journal against a model", () => {
  it("every PitView equals the model's image at its seq", async () => {
    await fc.assert(fc.asyncProperty(fc.array(action, { minLength: 5, maxLength: 80 }), runActions), {
      seed: SEED,
      numRuns: Number(process.env.JOURNAL_RUNS ?? 60),
      reporter: (out) => {
        if (out.failed) throw new Error(`model test failed; rerun with JOURNAL_SEED=${SEED}\n${fc.defaultReportMessage(out)}\n${String(out.errorInstance)}`);
      },
    });
  });
});
