/**
 * The sender's batching: writes that trickle in one by one, while a batch is
 * unacknowledged, wait for each other and travel many to a frame (each frame
 * costs a TLS record, a journal write and an ACK); and what they carry lands
 * at the recovery site exactly as written, however the slabs holding the
 * stream's copies were reused on the way.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type Appliances, assertNewestEqualsProduction, caughtUp, setup } from "./harness.js";

describe("sender batching", () => {
  let app: Appliances;
  before(async () => {
    // A long linger, so that how many writes share a frame does not hang on how fast this machine is.
    app = await setup({ group: { checkpointIntervalMs: 0 }, sender: { lingerMs: 200 } });
  });
  after(async () => {
    await app.close();
  });

  it("writes made one at a time share frames, and arrive whole", async () => {
    const disk = app.group.device("vm1/disk0");
    await disk.write(0, Buffer.alloc(4096, 1));
    await caughtUp(app);
    const before = app.sender.status();
    for (let i = 0; i < 400; i++) {
      await disk.write((i % 2048) * 4096, Buffer.alloc(4096, (i % 250) + 2));
      // A turn of the event loop between writes, as between NBD requests: the sender wakes for each.
      await new Promise((resolve) => setImmediate(resolve));
    }
    await caughtUp(app);
    const after = app.sender.status();
    const records = after.records - before.records;
    const batches = after.batches - before.batches;
    assert.equal(records, 400);
    assert.ok(batches <= records / 4, `${records} records went out in ${batches} batches`);
    await assertNewestEqualsProduction(app);
  });

  it("more than a slab holds: 1 MiB writes, 16 at a time, rewritten three times", async () => {
    const disk = app.group.device("vm2/disk0");
    for (let round = 0; round < 3; round++) {
      await Promise.all(Array.from({ length: 16 }, (_, i) => disk.write(i * 1024 * 1024, Buffer.alloc(1024 * 1024, 16 * round + i + 1))));
    }
    await caughtUp(app);
    await assertNewestEqualsProduction(app);
  });
});
