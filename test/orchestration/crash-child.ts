/**
 * The child of restart.test.ts: starts a failover test and a live failover on
 * a journal, writes to the failed-over disk and flushes, says "ready", and
 * waits to be killed.
 */
import path from "node:path";
import { Journal } from "../../src/journal/index.js";
import { NbdServer, StaticExports } from "../../src/nbd/index.js";
import { FailoverTest, LiveFailover, MemoryTaskStore, NoneDriver, parsePoint, resolvePoint, type RecoveryGroup } from "../../src/orchestration/index.js";
import { RawClient } from "../nbd/client.js";

const dir = process.argv[2]!;
const journal = await Journal.open(path.join(dir, "journal"));
const exports = new StaticExports();
const server = new NbdServer({ exports });
const { port } = await server.listen(0);
const group: RecoveryGroup = {
  name: "erp",
  journal,
  vms: [{ name: "db", bootOrder: 1, bootDelayMs: 0, disks: [{ name: "data", journalDisk: "db/data" }], networkMapping: { test: {}, live: {} } }],
  exports: { add: (e) => void exports.add(e), remove: (n) => void exports.remove(n), uri: (n) => `nbd://127.0.0.1:${port}/${n}` },
  driver: new NoneDriver(),
  workDir: path.join(dir, "work"),
};
const control = { stop: async () => {}, resume: async () => {} };
const point = resolvePoint(journal, parsePoint("tag:good"));
await new FailoverTest(group, point, "t").start(new MemoryTaskStore());
await new LiveFailover(group, point, "f", control).start(new MemoryTaskStore());
const { client } = await RawClient.session(port, "erp/db/data");
await client.writeBytes(0, Buffer.alloc(65536, 0x5a));
await client.request({ type: 3 });
process.stdout.write("ready\n");
setInterval(() => {}, 1000);
