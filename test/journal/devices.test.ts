import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { MemoryDevice, ReadOnlyError } from "../../src/blockdev/index.js";
import { Journal, Overlay, PitView } from "../../src/journal/index.js";
import { blockDeviceConformance } from "../blockdev/conformance.js";
import { pattern, tempDir } from "./helpers.js";

const root = tempDir("journal-devices");
after(() => fs.rmSync(root, { recursive: true, force: true }));
let n = 0;

blockDeviceConformance("Overlay over a MemoryDevice", async (size) => Overlay.open(new MemoryDevice(size), path.join(root, `scratch-${n++}`)));

blockDeviceConformance("Overlay over a PitView", async (size) => {
  const j = await Journal.create(path.join(root, `g${n++}`), { disks: [{ name: "d", sizeBytes: size }] });
  const view = await PitView.open(j, "d", 0);
  return Overlay.open(view, path.join(root, `scratch-${n++}`), { blockBytes: 16 * 1024 });
});

describe("Overlay", () => {
  it("never writes the lower device, and a discarded overlay leaves it as it was", async () => {
    const lower = new MemoryDevice(1 << 20);
    await lower.write(0, pattern(1 << 20, 1));
    const scratch = path.join(root, "discard");
    const o = await Overlay.open(lower, scratch);
    await o.write(100, pattern(70_000, 2));
    await o.writeZeroes(300_000, 200_000);
    await o.trim(0, 65536);
    await o.close();
    await Overlay.discard(scratch);
    assert.ok((await lower.read(0, 1 << 20)).equals(pattern(1 << 20, 1)));
    assert.equal(fs.existsSync(scratch), false);
  });

  it("keeps flushed writes across a crash of the process", async () => {
    const lower = new MemoryDevice(1 << 20);
    const scratch = path.join(root, "crash");
    const o = await Overlay.open(lower, scratch);
    await o.write(5000, pattern(9000, 3));
    await o.writeZeroes(65536, 65536);
    await o.flush();
    // No close: the process "dies" here; a new one opens the same files.
    const again = await Overlay.open(lower, scratch);
    const want = Buffer.alloc(1 << 20);
    pattern(9000, 3).copy(want, 5000);
    assert.ok((await again.read(0, 1 << 20)).equals(want));
    const [first] = await again.extents(65536, 65536);
    assert.deepEqual(first, { length: 65536, hole: true, zero: true });
    await again.close();
  });

  it("after a crash, checks every block at open and keeps writes that were never flushed as found, saying how many", async () => {
    const lower = new MemoryDevice(1 << 20);
    const scratch = path.join(root, "crashed");
    const o = await Overlay.open(lower, scratch);
    await o.write(0, pattern(65536, 1));
    await o.write(65536, pattern(65536, 2));
    await o.flush();
    await o.write(0, pattern(65536, 3)); // never flushed
    // The files as a crash leaves them: no clean close.
    fs.copyFileSync(scratch, `${scratch}-crash`);
    fs.copyFileSync(`${scratch}.map`, `${scratch}-crash.map`);
    await o.close();
    const again = await Overlay.open(lower, `${scratch}-crash`);
    assert.deepEqual(again.openReport, { clean: false, blocksChecked: 2, blocksChanged: 1 });
    assert.ok((await again.read(0, 131072)).equals(Buffer.concat([pattern(65536, 3), pattern(65536, 2)])));
    await again.close();
    const clean = await Overlay.open(lower, `${scratch}-crash`);
    assert.equal(clean.openReport.clean, true, "closed cleanly this time");
    await clean.close();
  });

  it("drops a torn last entry of its allocation map, and keeps the rest", async () => {
    const lower = new MemoryDevice(1 << 20);
    const scratch = path.join(root, "torn-map");
    const o = await Overlay.open(lower, scratch);
    await o.write(0, pattern(65536, 5));
    await o.flush();
    await o.write(65536, pattern(65536, 6));
    await o.close();
    fs.appendFileSync(`${scratch}.map`, Buffer.from([1, 2, 3, 4, 5, 6, 7])); // half an entry, as a crash leaves it
    const again = await Overlay.open(lower, scratch);
    assert.ok((await again.read(0, 131072)).equals(Buffer.concat([pattern(65536, 5), pattern(65536, 6)])));
    assert.equal((fs.statSync(`${scratch}.map`).size - 16) % 20, 0, "the map was rewritten whole");
    await again.close();
  });
});

describe("PitView", () => {
  it("is read-only and tells its allocation truthfully", async () => {
    const j = await Journal.create(path.join(root, `g${n++}`), { disks: [{ name: "big", sizeBytes: 2 ** 40 }] });
    await j.append({ type: "write", seq: 1, timeMs: 1, disk: "big", offset: 2 ** 39, data: pattern(8192, 1) });
    await j.append({ type: "zero", seq: 2, timeMs: 2, disk: "big", offset: 2 ** 39 + 4096, length: 1 << 20 });
    const view = await PitView.open(j, "big", 2);
    await assert.rejects(view.write(0, Buffer.alloc(1)), ReadOnlyError);
    const extents = await view.extents(0, view.size);
    assert.equal(extents.reduce((s, e) => s + e.length, 0), 2 ** 40);
    assert.deepEqual(extents.filter((e) => !e.hole), [
      { length: 4096, hole: false, zero: false },
      { length: 1 << 20, hole: false, zero: true },
    ]);
    assert.ok((await view.read(2 ** 39, 8192)).equals(Buffer.concat([pattern(4096, 1), Buffer.alloc(4096)])));
    await view.close();
    await j.close();
  });

  it("holds back promotion while open", async () => {
    const j = await Journal.create(path.join(root, `g${n++}`), { disks: [{ name: "d", sizeBytes: 1 << 20 }] });
    for (let s = 1; s <= 10; s++) await j.append({ type: "write", seq: s, timeMs: s, disk: "d", offset: 0, data: pattern(4096, s) });
    const view = await PitView.open(j, "d", 4);
    assert.equal((await j.promote({ throughSeq: 10 })).throughSeq, 4);
    assert.ok((await view.read(0, 4096)).equals(pattern(4096, 4)));
    await view.close();
    assert.equal((await j.promote({ throughSeq: 10 })).throughSeq, 10);
    await assert.rejects(PitView.open(j, "d", 9), /not in the journal/);
    await j.close();
  });
});
