/**
 * journal-concurrency: appends, promotions (deleting segments) and PIT view
 * reads all at once. Every view must equal the model at its seq while the
 * records behind it are promoted and their segments deleted around it.
 */
import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { Journal, PitView } from "../../src/journal/index.js";
import { DiskModel, pattern, tempDir } from "./helpers.js";

const root = tempDir("journal-concurrency");
after(() => fs.rmSync(root, { recursive: true, force: true }));
const SIZE = 512 * 1024;

describe("journal under concurrent appends, promotions and reads", () => {
  it("views stay exact while history is promoted and segments deleted beneath them", async () => {
    const j = await Journal.create(path.join(root, "g"), { disks: [{ name: "d", sizeBytes: SIZE }], segmentBytes: 32 * 1024 });
    const model = new DiskModel(new Map([["d", SIZE]]));
    let seq = 0;
    let stop = false;
    const writer = (async () => {
      let x = 99;
      while (seq < 3000) {
        const batch: Promise<void>[] = [];
        for (let i = 0; i < 16; i++) {
          x = (Math.imul(x, 1103515245) + 12345) >>> 0;
          const len = 512 + (x % 6000);
          const offset = (x >>> 4) % (SIZE - len);
          const data = pattern(len, ++seq);
          model.ops.push({ seq, kind: "write", disk: "d", offset, data });
          batch.push(j.append({ type: "write", seq, timeMs: seq, disk: "d", offset, data }));
        }
        await Promise.all(batch);
      }
      stop = true;
    })();
    const promoter = (async () => {
      while (!stop) {
        await j.promote({ throughSeq: Math.max(0, j.durableSeq - 200) });
        await new Promise((r) => setTimeout(r, 2));
      }
    })();
    let checked = 0;
    const reader = async (id: number) => {
      let x = id * 7919;
      while (!stop) {
        x = (Math.imul(x, 1103515245) + 12345) >>> 0;
        const lo = j.appliedThroughSeq;
        const at = lo + (x % Math.max(1, j.writtenSeq - lo + 1));
        let view: PitView;
        try {
          view = await PitView.open(j, "d", at);
        } catch {
          // Promoted past it between choosing and opening: fine. Yield to I/O, or a reader that keeps
          // missing spins on microtasks and starves the writer it waits for.
          await new Promise((r) => setImmediate(r));
          continue;
        }
        const got = await view.read(0, SIZE);
        await new Promise((r) => setTimeout(r, 1)); // let promotion run while the view is open
        const again = await view.read(0, SIZE);
        await view.close();
        const want = model.image("d", at);
        assert.ok(got.equals(want) && again.equals(want), `view at ${at}`);
        checked++;
        // Readers share the event loop with the writer: pace them, so appends (and their fsyncs) keep going.
        await new Promise((r) => setTimeout(r, 5));
      }
    };
    await Promise.all([writer, promoter, reader(1), reader(2), reader(3)]);
    assert.ok(checked > 10, `only ${checked} views checked`);
    assert.ok(j.appliedThroughSeq > 0, "promotion ran");
    await j.close();
  });
});
