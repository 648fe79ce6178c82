/**
 * failover-live-commit and failover-live-rollback: a live failover to a point
 * serves the disks as they were, a commit folds the point and what the VM
 * wrote (also while the commit ran) into the replica under a connected
 * client, and a rollback gives everything back as it was.
 */
import { describe, it, beforeEach, afterEach } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Journal, PitView } from "../../src/journal/index.js";
import { NbdServer, StaticExports, type NbdExport } from "../../src/nbd/index.js";
import {
  LiveFailover,
  MemoryTaskStore,
  NoneDriver,
  parsePoint,
  resolvePoint,
  restoreDisk,
  type ExportRegistry,
  type RecoveryGroup,
  type ReplicationControl,
} from "../../src/orchestration/index.js";
import { RawClient } from "../nbd/client.js";
import { pattern } from "../journal/helpers.js";

const MiB = 1 << 20;
const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

describe("failover-live", () => {
  let dir: string;
  let journal: Journal;
  let server: NbdServer;
  let port: number;
  let exports: StaticExports;
  let calls: string[];
  const data1 = pattern(2 * MiB, 1);
  const data2 = pattern(2 * MiB, 2);
  const control: ReplicationControl = {
    stop: async (g) => void calls.push(`stop ${g}`),
    resume: async (g) => void calls.push(`resume ${g}`),
  };

  beforeEach(async () => {
    calls = [];
    exports = new StaticExports();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "lifeline-failover-live-"));
    journal = await Journal.create(path.join(dir, "journal"), { disks: [{ name: "db/data", sizeBytes: 8 * MiB }] });
    let seq = journal.lastSeq;
    const t = Date.now() - 60_000;
    await journal.append({ type: "write", seq: ++seq, timeMs: t, disk: "db/data", offset: MiB, data: data1 });
    await journal.append({ type: "checkpoint", seq: ++seq, timeMs: t + 1, id: "cp-1", tag: "good" });
    await journal.append({ type: "write", seq: ++seq, timeMs: t + 1000, disk: "db/data", offset: MiB, data: data2 });
    await journal.append({ type: "checkpoint", seq: ++seq, timeMs: t + 1001, id: "cp-2", tag: "ransomware" });
    await journal.whenWritten(seq);
    server = new NbdServer({ exports });
    port = (await server.listen(0)).port;
  });

  afterEach(async () => {
    await server.close();
    await journal.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const group = (): RecoveryGroup => {
    const registry: ExportRegistry = {
      add: (exp: NbdExport) => void exports.add(exp),
      remove: (name: string) => void exports.remove(name),
      uri: (name: string) => `nbd://127.0.0.1:${port}/${name}`,
    };
    return {
      name: "erp",
      journal,
      vms: [{ name: "db", bootOrder: 1, bootDelayMs: 0, disks: [{ name: "data", journalDisk: "db/data" }], networkMapping: { test: {}, live: {} } }],
      exports: registry,
      driver: new NoneDriver(),
      workDir: path.join(dir, "work"),
    };
  };

  it("serves the point before the corruption, and a commit keeps it and every write made on it", async () => {
    const point = resolvePoint(journal, parsePoint("tag:good"));
    const failover = new LiveFailover(group(), point, "alice", control);
    const store = new MemoryTaskStore();
    assert.equal((await failover.start(store)).state, "succeeded");
    assert.deepEqual(calls, ["stop erp"]);
    assert.equal(failover.state, "failed-over");

    const { client } = await RawClient.session(port, "erp/db/data");
    try {
      assert.equal(sha(await client.readBytes(MiB, 2 * MiB)), sha(data1), "the recovered disk holds the good point");
      const before = pattern(64 * 1024, 7);
      await client.writeBytes(0, before);
      // Writes during the commit are kept too: they are tracked and copied again at the switch.
      const during = pattern(64 * 1024, 8);
      const committing = failover.commit(store);
      await client.writeBytes(4 * MiB, during);
      const task = await committing;
      assert.equal(task.state, "succeeded", JSON.stringify(task.steps));
      assert.equal(failover.state, "committed");
      const after = pattern(4096, 9);
      await client.writeBytes(6 * MiB, after);

      const replica = journal.replica(journal.disk("db/data").id);
      assert.equal(sha(await replica.read(0, 64 * 1024)), sha(before));
      assert.equal(sha(await replica.read(MiB, 2 * MiB)), sha(data1), "the point is in the replica");
      assert.equal(sha(await replica.read(4 * MiB, 64 * 1024)), sha(during));
      assert.equal(sha(await replica.read(6 * MiB, 4096)), sha(after), "after the switch, writes go to the replica");
      assert.equal(journal.pins.length, 0);
      assert.deepEqual(fs.readdirSync(path.join(dir, "work", "failover-overlays")), []);
    } finally {
      client.close();
    }
  });

  it("rolls back: the VM's writes are gone, the journal is as it was, replication resumes", async () => {
    const point = resolvePoint(journal, parsePoint("tag:good"));
    const failover = new LiveFailover(group(), point, "bob", control);
    const store = new MemoryTaskStore();
    await failover.start(store);
    const { client } = await RawClient.session(port, "erp/db/data");
    await client.writeBytes(MiB, Buffer.alloc(4096, 0xee));
    client.close();
    const task = await failover.rollback(store);
    assert.equal(task.state, "succeeded");
    assert.deepEqual(calls, ["stop erp", "resume erp"]);
    assert.deepEqual(exports.list(), []);
    assert.equal(journal.pins.length, 0);
    const view = await PitView.open(journal, "db/data", resolvePoint(journal, parsePoint("latest")).seq);
    assert.equal(sha(await view.read(MiB, 2 * MiB)), sha(data2), "the newest point is still there");
    await view.close();
    await assert.rejects(failover.commit(store), /rolled-back, not failed-over/);
  });

  it("restores a disk at a point to an image file", async () => {
    const out = path.join(dir, "restored.raw");
    const result = await restoreDisk(journal, "db/data", resolvePoint(journal, parsePoint("cp-1")), out);
    assert.equal(result.sizeBytes, 8 * MiB);
    const image = fs.readFileSync(out);
    assert.equal(image.length, 8 * MiB);
    assert.equal(sha(image.subarray(MiB, 3 * MiB)), sha(data1));
  });
});
