/**
 * replication-basic: a workload through real NBD clients (the in-house
 * writer and qemu-io) on two disks of one group; tagged checkpoints while the
 * writers pause, with production hashes recorded; then every consistent
 * tagged checkpoint's PIT view equals its hash, and the newest point equals
 * production byte for byte.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { after, before, describe, it } from "node:test";
import { type Appliances, assertNewestEqualsProduction, caughtUp, productionHashes, setup, viewHash } from "./harness.js";
import { RecordingWriter } from "./writer.js";

const exec = promisify(execFile);

describe("replication-basic", () => {
  let app: Appliances;
  before(async () => {
    app = await setup();
  });
  after(async () => {
    await app.close();
  });

  it("every consistent tagged checkpoint equals production at that moment, and the newest point equals production", async () => {
    const writer = await RecordingWriter.open(app.nbdPort, app.exportName("vm1/disk0"), 7);
    const tagged: { tag: string; hashes: Map<string, string> }[] = [];
    try {
      for (let round = 0; round < 4; round++) {
        writer.start(8);
        await exec("qemu-io", ["-f", "raw", "-c", `write -P ${0x10 + round} ${round * 1048576} 1M`, "-c", `write -z ${round * 65536 + 8 * 1048576} 64k`, app.uri("vm2/disk0")]);
        await new Promise((r) => setTimeout(r, 150));
        await writer.pause();
        const tag = `round-${round}`;
        const cp = app.group.checkpoint(tag);
        assert.equal(cp.consistent, true);
        tagged.push({ tag, hashes: await productionHashes(app) });
      }
      assert.ok(writer.acknowledged > 0);
      assert.deepEqual(await app.stores.get("vm1/disk0")!.read(0, writer.model.length), writer.model);
      await caughtUp(app);
      const j = app.journal();
      for (const t of tagged) {
        const [cp] = j.checkpoints.list({ tag: t.tag });
        assert.ok(cp, `checkpoint ${t.tag} is in the journal`);
        assert.equal(cp.consistent, true);
        for (const [disk, hash] of t.hashes) assert.equal(await viewHash(j, disk, cp.seq), hash, `${disk} at ${t.tag}`);
      }
      await assertNewestEqualsProduction(app);
      const st = app.sender.status();
      assert.equal(st.link.kind, "connected");
      assert.ok(st.compressionRatio >= 1);
    } finally {
      writer.close();
    }
  });
});
