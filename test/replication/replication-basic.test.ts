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

  it("replication-fio: fio (ioengine=nbd) verifies its writes through the splitter, with a link cut half way, and the replica matches", async () => {
    const fio = (args: string[]) =>
      exec("fio", ["--name=repl", "--ioengine=nbd", `--uri=${app.uri("vm2/disk0")}`, "--output-format=normal", "--verify_state_save=0", "--size=12M", ...args], { maxBuffer: 16 << 20 });
    const run = fio(["--rw=randwrite", "--bs=4k", "--iodepth=32", "--verify=crc32c", "--do_verify=1", "--verify_fatal=1"]);
    await new Promise((r) => setTimeout(r, 100));
    app.sender.disconnect("a test cut the link");
    const { stdout } = await run;
    assert.doesNotMatch(stdout, /verify: bad|crc32c: verify failed|err=\s*[1-9]/, stdout);
    const { stdout: seq } = await fio(["--rw=write", "--bs=1M", "--iodepth=4", "--verify=crc32c", "--do_verify=1", "--verify_fatal=1"]);
    assert.doesNotMatch(seq, /verify: bad|crc32c: verify failed|err=\s*[1-9]/, seq);
    await assertNewestEqualsProduction(app);
  });
});
