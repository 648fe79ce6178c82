/**
 * failover-test-isolated: a test failover at a tagged point boots the VM as it
 * was then, serves its disks as they were then, and leaves the replica, the
 * journal and every pin as they were once stopped.
 */
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Journal, PitView } from "../../src/journal/index.js";
import { NbdServer, StaticExports, type NbdExport } from "../../src/nbd/index.js";
import {
  FailoverTest,
  MemoryTaskStore,
  NoneDriver,
  QemuDriver,
  ScriptDriver,
  parsePoint,
  resolvePoint,
  type ExportRegistry,
  type RecoveryGroup,
} from "../../src/orchestration/index.js";
import { requireTool, run } from "../e2e/harness.js";
import { pattern } from "../journal/helpers.js";
import { bootSector } from "./boot-sector.js";

const MiB = 1 << 20;
const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

async function waitFor(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && !check()) await new Promise((r) => setTimeout(r, 100));
  return check();
}

describe("failover-test-isolated", () => {
  let dir: string;
  let journal: Journal;
  let server: NbdServer;
  let port: number;
  const exports = new StaticExports();
  const registry: ExportRegistry = {
    add: (exp: NbdExport) => void exports.add(exp),
    remove: (name: string) => void exports.remove(name),
    uri: (name: string) => `nbd://127.0.0.1:${port}/${name}`,
  };
  const data1 = pattern(2 * MiB, 1);
  const data2 = pattern(2 * MiB, 2);

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "lifeline-failover-test-"));
    journal = await Journal.create(path.join(dir, "journal"), {
      disks: [
        { name: "vm1/boot", sizeBytes: MiB },
        { name: "vm1/data", sizeBytes: 8 * MiB },
      ],
    });
    let seq = journal.lastSeq;
    const t = Date.now() - 60_000;
    await journal.append({ type: "write", seq: ++seq, timeMs: t, disk: "vm1/boot", offset: 0, data: bootSector("LIFELINE-MARKER gen=0001") });
    await journal.append({ type: "write", seq: ++seq, timeMs: t + 1, disk: "vm1/data", offset: MiB, data: data1 });
    await journal.append({ type: "checkpoint", seq: ++seq, timeMs: t + 2, id: "cp-1", tag: "before-upgrade" });
    await journal.append({ type: "write", seq: ++seq, timeMs: t + 1000, disk: "vm1/boot", offset: 0, data: bootSector("LIFELINE-MARKER gen=0002") });
    await journal.append({ type: "write", seq: ++seq, timeMs: t + 1001, disk: "vm1/data", offset: MiB, data: data2 });
    await journal.append({ type: "checkpoint", seq: ++seq, timeMs: t + 1002, id: "cp-2" });
    await journal.whenWritten(seq);
    server = new NbdServer({ exports });
    port = (await server.listen(0)).port;
  });

  after(async () => {
    await server.close();
    await journal.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const group = (driver: RecoveryGroup["driver"]): RecoveryGroup => ({
    name: "erp",
    journal,
    vms: [{ name: "vm1", bootOrder: 1, bootDelayMs: 0, memoryMiB: 32, disks: [{ name: "boot", journalDisk: "vm1/boot" }, { name: "data", journalDisk: "vm1/data" }], networkMapping: { test: {}, live: {} } }],
    exports: registry,
    driver,
    workDir: path.join(dir, "work"),
  });

  it("resolves points by tag, checkpoint, seq and age, and refuses points outside the journal", () => {
    assert.equal(resolvePoint(journal, parsePoint("tag:before-upgrade")).checkpointId, "cp-1");
    assert.equal(resolvePoint(journal, parsePoint("cp-2")).seq, journal.durableSeq);
    assert.equal(resolvePoint(journal, parsePoint("latest")).checkpointId, "cp-2");
    assert.equal(resolvePoint(journal, parsePoint("seq:2")).seq, 2);
    assert.equal(resolvePoint(journal, parsePoint("30s ago")).checkpointId, "cp-2");
    assert.throws(() => resolvePoint(journal, parsePoint("seq:999")), /outside the journal/);
    assert.throws(() => resolvePoint(journal, parsePoint("tag:nope")), /no consistent checkpoint/);
  });

  it("boots the VM as it was at the tagged point, serves its disks as they were, and leaves nothing behind", async () => {
    requireTool("qemu-system-x86_64");
    requireTool("nbdcopy");
    const point = resolvePoint(journal, parsePoint("tag:before-upgrade"));
    const store = new MemoryTaskStore();
    const test = new FailoverTest(group(new QemuDriver()), point, "alice");
    const started = await test.start(store);
    assert.equal(started.state, "succeeded", JSON.stringify(started));
    assert.deepEqual(test.exportNames, ["test/erp/vm1/boot", "test/erp/vm1/data"]);
    assert.equal(journal.pins.length, 1);

    const console = test.vms[0]!.details.console!;
    assert.ok(await waitFor(() => fs.readFileSync(console, "utf8").includes("gen=0001"), 60_000), "the VM booted the disk of the tagged point");

    const copy = path.join(dir, "data-copy.raw");
    await run("nbdcopy", [registry.uri("test/erp/vm1/data"), copy]);
    const image = fs.readFileSync(copy);
    assert.equal(sha(image.subarray(MiB, 3 * MiB)), sha(data1));

    // Writes in the test land in the overlay only.
    await run("qemu-io", ["-f", "raw", "-c", "write -P 0xee 1M 64k", registry.uri("test/erp/vm1/data")]);
    await run("qemu-io", ["-f", "raw", "-c", "read -P 0xee 1M 64k", registry.uri("test/erp/vm1/data")]);
    const view = await PitView.open(journal, "vm1/data", point.seq);
    assert.equal(sha(await view.read(MiB, 2 * MiB)), sha(data1), "the journal's view is untouched");
    await view.close();
    assert.equal(sha(await journal.replica(journal.disk("vm1/data").id).read(MiB, 64 * 1024)), sha(Buffer.alloc(64 * 1024)), "the replica is untouched");

    const { task, report } = await test.stop(store, "pass", "ERP login works");
    assert.equal(task.state, "succeeded");
    assert.equal(report.result, "pass");
    assert.equal(report.point.checkpointId, "cp-1");
    assert.deepEqual(exports.list(), [], "no export is left");
    assert.equal(journal.pins.length, 0, "no pin is left");
    assert.deepEqual(fs.readdirSync(path.join(dir, "work", "test-overlays")), [], "no overlay is left");
  });

  it("rolls back what it did when a VM cannot start", async () => {
    const point = resolvePoint(journal, parsePoint("latest"));
    const store = new MemoryTaskStore();
    const failing = new ScriptDriver({ start: "echo no hypervisor >&2; exit 1", stop: "true" });
    const task = await new FailoverTest(group(failing), point, "bob").start(store);
    assert.equal(task.state, "rolled-back");
    assert.match(task.error ?? "", /no hypervisor|exit code 1/);
    assert.deepEqual(task.steps.map((s) => s.state), ["undone", "undone", "undone", "failed"]);
    assert.deepEqual(exports.list(), []);
    assert.equal(journal.pins.length, 0);
  });

  it("with the none driver, serves the disks at the latest point for an outside tool", async () => {
    const point = resolvePoint(journal, parsePoint("latest"));
    const test = new FailoverTest(group(new NoneDriver()), point, "carol");
    assert.equal((await test.start(new MemoryTaskStore())).state, "succeeded");
    const out = await run("nbdinfo", ["--json", registry.uri("test/erp/vm1/data")]);
    assert.equal(JSON.parse(out).exports[0]["export-size"], 8 * MiB);
    await test.stop(new MemoryTaskStore(), "unknown", "");
    assert.deepEqual(exports.list(), []);
  });
});
