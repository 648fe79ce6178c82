/** The two-site demo (what `lifeline demo` runs): reaches "protected" with the workload running, stops cleanly, resumes. */
import assert from "node:assert/strict";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { pino } from "pino";
import { startDemo, type Demo, type DemoPorts } from "../../src/api/index.js";
import { groupStatus } from "../../src/site/index.js";

/** Free ports, fixed for both runs: a real site keeps its ports across restarts, and so must the demo's. */
async function freePorts(): Promise<DemoPorts> {
  const one = () =>
    new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, "127.0.0.1", () => {
        const { port } = s.address() as net.AddressInfo;
        s.close(() => resolve(port));
      });
    });
  return { api: await one(), nbd: await one(), replication: await one(), peer: await one() };
}

async function protectedWithin(demo: Demo): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const ctx = demo.a.site.ctx;
    const s = groupStatus(ctx, ctx.manager.groups.get("erp"));
    if (s.state === "protected" && demo.workload.bytesWritten > 0) return;
    if (Date.now() > deadline) throw new Error(`the demo did not reach protected: ${s.state} (${s.reason})`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe("demo", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lifeline-demo-"));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const logger = pino({ level: "silent" });
  let ports: { A: DemoPorts; B: DemoPorts };

  it("starts two paired sites with group erp protected under a workload, and stops cleanly", async () => {
    ports = { A: await freePorts(), B: await freePorts() };
    const demo = await startDemo({ dir, logger, ports });
    try {
      assert.equal(demo.nbdUris.length, 3);
      assert.match(demo.banner(), /lifeline status --dir/);
      await protectedWithin(demo);
      assert.equal(demo.workload.lastError, undefined);
    } finally {
      await demo.stop();
    }
    assert.ok(!fs.existsSync(path.join(dir, "A", "run.json")));
  });

  it("resumes on the same directory without making anything twice", async () => {
    const demo = await startDemo({ dir, logger, ports });
    try {
      assert.equal(demo.a.site.ctx.manager.groups.list().length, 1);
      assert.equal(demo.a.site.ctx.manager.peers.list().length, 1);
      await protectedWithin(demo);
    } finally {
      await demo.stop();
    }
  });
});
