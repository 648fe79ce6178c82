/**
 * replication-activity-log and replication-initial-sync: a crash of the
 * protected appliance with writes the recovery site never got loses nothing
 * (only hot extents are resynced); a disk that already holds data is copied,
 * sparse-aware, while new writes keep flowing.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, it } from "node:test";
import { FileDevice } from "../../src/blockdev/index.js";
import { ActivityLog, EXTENT_BYTES } from "../../src/replication/index.js";
import { type Appliances, MiB, assertNewestEqualsProduction, caughtUp, setup, sleep } from "./harness.js";
import { RecordingWriter } from "./writer.js";

describe("activity log", () => {
  it("makes extents durably hot before writes land, batching one file write for many extents, and cools them", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lifeline-al-"));
    try {
      const file = path.join(dir, "activity.log");
      const { log, hot } = await ActivityLog.open(file, [{ name: "d", sizeBytes: 64 * EXTENT_BYTES }]);
      assert.deepEqual(hot, []);
      const before = log.writes;
      const waits = Array.from({ length: 40 }, (_, i) => log.begin(0, i * EXTENT_BYTES + 100, 4096));
      assert.ok(waits.every((w) => w !== undefined));
      await Promise.all(waits);
      assert.ok(log.writes - before <= 2, `${log.writes - before} writes for 40 extents`);
      assert.equal(log.begin(0, 100, 10), undefined, "a hot extent does not wait");
      for (let i = 0; i < 40; i++) log.note(0, i * EXTENT_BYTES, 4096, i + 1);
      for (let i = 0; i < 40; i++) log.end(0, i * EXTENT_BYTES + 100, 4096);
      log.end(0, 100, 10);
      const reopened = await ActivityLog.open(file, [{ name: "d", sizeBytes: 64 * EXTENT_BYTES }]);
      assert.equal(reopened.hot.length, 40, "after a crash, the hot extents are known");
      await log.cool(20, () => false);
      assert.equal(log.hotExtents, 20);
      assert.equal((await ActivityLog.open(file, [{ name: "d", sizeBytes: 64 * EXTENT_BYTES }])).hot.length, 20);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("replication at the protected site", () => {
  let app: Appliances | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  it("replication-activity-log: a crash with unreplicated writes resyncs only the hot extents and converges", async () => {
    app = await setup({ proxy: true, activityLog: true, disks: [{ name: "vm1/disk0", sizeBytes: 64 * MiB }, { name: "vm2/disk0", sizeBytes: 16 * MiB }] });
    await caughtUp(app);
    // The link goes down, writes go on, then the appliance dies with them unreplicated.
    app.proxy!.refuse(true);
    const writer = await RecordingWriter.open(app.nbdPort, app.exportName("vm1/disk0"), 3);
    for (let i = 0; i < 50; i++) await writer.writeOne();
    writer.close();
    assert.ok(app.group.status().ackedSeq < app.group.status().lastSeq || app.group.state.kind === "tracking");
    const hot = app.group.hotExtents;
    assert.ok(hot > 0 && hot < 16, `${hot} hot extents of 20`);
    await app.crashAndRestart();
    const start = app.events.find((e) => e.type === "state" && e.to === "syncing" && /hot extents/.test(e.message));
    app.proxy!.refuse(false);
    await caughtUp(app);
    await assertNewestEqualsProduction(app);
    assert.ok(start || app.events.some((e) => e.type === "state" && /hot extents/.test(e.message)), "the restart resynced hot extents");
    const synced = app.events.filter((e) => e.type === "state" && e.to === "syncing").at(-1);
    assert.ok(synced && synced.type === "state" && synced.bytes <= hot * EXTENT_BYTES, "no more than the hot extents were synced");
    while (app.group.hotExtents > 0) await sleep(100);
  });

  it("replication-initial-sync: existing data is copied sparse-aware while new writes flow, with progress", { timeout: 120_000 }, async () => {
    app = await setup({
      disks: [{ name: "vm1/disk0", sizeBytes: 64 * MiB }, { name: "vm2/disk0", sizeBytes: 16 * MiB }],
      group: { initialSync: true, streamLimitBytes: 4 * MiB },
      sender: { bandwidthLimitBytesPerSec: 20 * MiB },
      prefill: async (stores) => {
        const d = stores.get("vm1/disk0")!;
        for (let i = 0; i < 12; i++) await d.write(i * 5 * MiB, Buffer.alloc(MiB, i + 1));
        await d.write(40 * MiB, Buffer.alloc(MiB, 0)); // allocated zeroes: sent as a zero flag
        await d.flush();
      },
    });
    const writer = await RecordingWriter.open(app.nbdPort, app.exportName("vm2/disk0"), 9);
    writer.start(2);
    let sawProgress = false;
    const watch = async () => {
      while (app!.group.state.kind !== "streaming") {
        const s = app!.group.status().sync;
        if (s && s.doneBytes > 0 && s.totalBytes >= 12 * MiB && s.etaMs !== undefined) sawProgress = true;
        await sleep(20);
      }
    };
    const watching = watch();
    await sleep(300);
    await writer.pause();
    writer.close();
    await watching;
    const started = app.events.find((e) => e.type === "state" && e.to === "syncing");
    assert.ok(started && started.type === "state" && /initial sync/.test(started.message), JSON.stringify(started));
    assert.ok(started.bytes < 16 * MiB, `only allocated data is synced (${started.bytes} bytes)`);
    assert.ok(sawProgress, "progress was visible during the sync");
    await assertNewestEqualsProduction(app);
  });
});

describe("replication-delta-sync", () => {
  it("a recovery site holding an older copy gets only the differing blocks", async () => {
    const seed = async (file: string, changed: number[]) => {
      const d = await FileDevice.open(file);
      for (let i = 0; i < 24; i++) await d.write(i * MiB, Buffer.alloc(MiB, changed.includes(i) ? 0xee : i + 1));
      await d.flush();
      await d.close();
    };
    const app = await setup({
      disks: [{ name: "vm1/disk0", sizeBytes: 32 * MiB }, { name: "vm2/disk0", sizeBytes: 16 * MiB }],
      group: { deltaSync: true },
      prefill: async (stores) => {
        const d = stores.get("vm1/disk0")!;
        for (let i = 0; i < 24; i++) await d.write(i * MiB, Buffer.alloc(MiB, i + 1));
        await d.flush();
      },
      preseed: async (replica) => seed(replica("vm1/disk0"), [3, 17]),
    });
    try {
      await caughtUp(app);
      await assertNewestEqualsProduction(app);
      const delta = app.events.find((e) => e.type === "delta");
      assert.ok(delta && delta.type === "delta", "a delta sync ran");
      assert.equal(delta.comparedBytes, 48 * MiB);
      assert.equal(delta.differingBytes, 2 * MiB, delta.message);
    } finally {
      await app.close();
    }
  });
});
