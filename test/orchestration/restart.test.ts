/**
 * failover-restart: the site daemon killed in the middle of a failover test
 * and of a live failover. At restart the test is rolled back (no pin, no
 * overlay left) and the failover resumed with the VM's flushed writes, then
 * committed; a commit whose fold was done but not recorded is finished.
 */
import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Journal } from "../../src/journal/index.js";
import { NbdServer, StaticExports } from "../../src/nbd/index.js";
import { LiveFailover, MemoryTaskStore, NoneDriver, parsePoint, recoverAfterRestart, resolvePoint, type RecoveryGroup } from "../../src/orchestration/index.js";
import { RawClient } from "../nbd/client.js";
import { pattern } from "../journal/helpers.js";

const MiB = 1 << 20;

describe("failover-restart", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lifeline-failover-restart-"));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("rolls back an interrupted test and resumes an interrupted failover", async () => {
    const created = await Journal.create(path.join(dir, "journal"), { disks: [{ name: "db/data", sizeBytes: 4 * MiB }] });
    let seq = created.lastSeq;
    await created.append({ type: "write", seq: ++seq, timeMs: Date.now() - 5000, disk: "db/data", offset: MiB, data: pattern(MiB, 3) });
    await created.append({ type: "checkpoint", seq: ++seq, timeMs: Date.now() - 4000, id: "cp-1", tag: "good" });
    await created.whenWritten(seq);
    await created.close();

    const child = spawn(process.execPath, [path.join(path.dirname(fileURLToPath(import.meta.url)), "crash-child.js"), dir], { stdio: ["ignore", "pipe", "inherit"] });
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on("data", (d: Buffer) => d.toString().includes("ready") && resolve());
      child.on("exit", (code) => reject(new Error(`child exited with ${code}`)));
    });
    child.kill("SIGKILL");
    await new Promise((r) => child.once("exit", r));

    const journal = await Journal.open(path.join(dir, "journal"));
    const exports = new StaticExports();
    const server = new NbdServer({ exports });
    const { port } = await server.listen(0);
    try {
      assert.equal(journal.pins.length, 2, "the crash left a test pin and a failover pin");
      const group: RecoveryGroup = {
        name: "erp",
        journal,
        vms: [{ name: "db", bootOrder: 1, bootDelayMs: 0, disks: [{ name: "data", journalDisk: "db/data" }], networkMapping: { test: {}, live: {} } }],
        exports: { add: (e) => void exports.add(e), remove: (n) => void exports.remove(n), uri: (n) => `nbd://127.0.0.1:${port}/${n}` },
        driver: new NoneDriver(),
        workDir: path.join(dir, "work"),
      };
      const report = await recoverAfterRestart(group, { stop: async () => {}, resume: async () => {} });
      assert.equal(report.testsRolledBack, 1);
      assert.ok(!fs.existsSync(path.join(dir, "work", "test-overlays")), "no test overlay is left");
      assert.deepEqual(exports.list(), ["erp/db/data"], "the failed-over disk is served again");

      const { client } = await RawClient.session(port, "erp/db/data");
      assert.deepEqual(await client.readBytes(0, 65536), Buffer.alloc(65536, 0x5a), "the VM's flushed writes survived the crash");
      assert.deepEqual(await client.readBytes(MiB, 4096), pattern(MiB, 3).subarray(0, 4096), "and the point is under them");
      client.close();

      const task = await report.failoverResumed!.commit(new MemoryTaskStore());
      assert.equal(task.state, "succeeded");
      const replica = journal.replica(journal.disk("db/data").id);
      assert.deepEqual(await replica.read(0, 65536), Buffer.alloc(65536, 0x5a));
      assert.equal(journal.pins.length, 0);
    } finally {
      await server.close();
      await journal.close();
    }
  });

  it("finishes a commit whose fold was done but not recorded, instead of serving the failover again", async () => {
    const jdir = path.join(dir, "journal-commit");
    const created = await Journal.create(jdir, { disks: [{ name: "db/data", sizeBytes: 4 * MiB }] });
    let seq = created.lastSeq;
    await created.append({ type: "write", seq: ++seq, timeMs: Date.now() - 5000, disk: "db/data", offset: 0, data: pattern(MiB, 7) });
    await created.append({ type: "checkpoint", seq: ++seq, timeMs: Date.now() - 4000, id: "cp-1", tag: "good" });
    await created.whenWritten(seq);
    await created.close();

    let journal = await Journal.open(jdir);
    const group = (j: Journal): RecoveryGroup => ({
      name: "erp",
      journal: j,
      vms: [{ name: "db", bootOrder: 1, bootDelayMs: 0, disks: [{ name: "data", journalDisk: "db/data" }], networkMapping: { test: {}, live: {} } }],
      exports: { add: () => {}, remove: () => {}, uri: (n) => `nbd://127.0.0.1:1/${n}` },
      driver: new NoneDriver(),
      workDir: path.join(dir, "work-commit"),
    });
    const control = { stop: async () => {}, resume: async () => {} };
    const failover = new LiveFailover(group(journal), resolvePoint(journal, parsePoint("tag:good")), "f", control);
    assert.equal((await failover.start(new MemoryTaskStore())).state, "succeeded");
    await failover.disks[0]!.device.write(2 * MiB, Buffer.alloc(65536, 0x6b));
    // The fold's work, as the commit's second step does it; then the "crash": nothing after it ran.
    await journal.commit(failover.point.seq, new Map(failover.disks.map((d) => [d.journalDisk, d.overlay])));
    for (const d of failover.disks) await d.overlay.close();
    await journal.close();

    journal = await Journal.open(jdir);
    try {
      const report = await recoverAfterRestart(group(journal), control);
      assert.equal(report.committed, true, "the journal's finished commit makes the group committed");
      assert.equal(report.failoverResumed, undefined, "the failover is not served again over a folded replica");
      assert.equal(journal.pins.length, 0, "the failover's pin is dropped");
      assert.ok(!fs.existsSync(path.join(dir, "work-commit", "failover-overlays")), "and its overlays");
      const replica = journal.replica(journal.disk("db/data").id);
      assert.deepEqual(await replica.read(0, 4096), pattern(MiB, 7).subarray(0, 4096));
      assert.deepEqual(await replica.read(2 * MiB, 65536), Buffer.alloc(65536, 0x6b), "the recovered VM's write is in the replica");
    } finally {
      await journal.close();
    }
  });
});
