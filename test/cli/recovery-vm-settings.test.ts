/**
 * recovery-vm-settings: a VM's own compute settings (memory, CPUs, extra
 * qemu arguments, test and live network mappings) over its group's. Set at
 * the protected site with `lifeline vm update`, sent to the recovery site
 * with the group, and given to the compute driver there: the `script`
 * driver's start command records its environment per VM and network.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { lifeline, ok, pairedSites, tempDir, until, type Daemon } from "./harness.js";

describe("recovery-vm-settings", () => {
  const root = tempDir();
  let a: Daemon;
  let b: Daemon;
  let dirA = "";
  let dirB = "";
  const state = async (dir: string) => JSON.parse(await ok(["status", "erp", "--json", "--dir", dir])).state as string;
  const envOf = (vm: string, network: string): Record<string, string> =>
    Object.fromEntries(fs.readFileSync(path.join(root, `${vm}.${network}.env`), "utf8").trim().split("\n").map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
  const vmsAt = async (dir: string) => JSON.parse(await ok(["status", "erp", "--json", "--dir", dir])).vms as { name: string; compute: Record<string, unknown> }[];

  before(async () => {
    ({ a, b, dirA, dirB } = await pairedSites(root));
    await ok(["group", "create", "erp", "--recovery-site", "B", "--dir", dirA]);
    await ok(["vm", "add", "erp", "erp-db", "--disk", "data:4MiB", "--dir", dirA]);
    await ok(["vm", "add", "erp", "erp-app", "--disk", "os:4MiB", "--dir", dirA]);
    await until("erp protected", async () => (await state(dirA)) === "protected");
    const record = `env | grep ^LIFELINE_ > ${root}/$LIFELINE_VM.$LIFELINE_NETWORK.env`;
    await ok(["group", "update", "erp", "--compute", "script", "--compute-start", record, "--compute-stop", "true", "--vm-memory", "512", "--vm-cpus", "1", "--dir", dirA]);
  });
  after(async () => {
    await Promise.all([a.stop("SIGKILL"), b.stop("SIGKILL")]);
    fs.rmSync(root, { recursive: true, force: true });
  });

  it("a VM's own settings reach the recovery site and its driver; the other VM keeps the group's", async () => {
    await ok(["vm", "update", "erp", "erp-db", "--memory", "2048", "--cpus", "4", "--qemu-args", "-rtc base=utc", "--test-network", "prod=bubble,dmz=bubble-dmz", "--live-network", "prod=dr-net", "--dir", dirA]);
    const own = { memoryMiB: 2048, cpus: 4, qemuArgs: ["-rtc", "base=utc"], testNetwork: { prod: "bubble", dmz: "bubble-dmz" }, liveNetwork: { prod: "dr-net" } };
    assert.deepEqual((await vmsAt(dirA)).find((v) => v.name === "erp-db")?.compute, own);
    assert.deepEqual((await vmsAt(dirB)).find((v) => v.name === "erp-db")?.compute, own, "the recovery site holds the VM's settings");

    await ok(["test", "start", "erp", "--dir", dirB]);
    const db = envOf("erp-db", "test");
    assert.equal(db.LIFELINE_VM, "erp-db");
    assert.equal(db.LIFELINE_MEMORY_MIB, "2048");
    assert.equal(db.LIFELINE_CPUS, "4");
    assert.equal(db.LIFELINE_NET_PROD, "bubble");
    assert.equal(db.LIFELINE_NET_DMZ, "bubble-dmz");
    assert.equal(db.LIFELINE_NETWORK_MAPPING, "prod=bubble dmz=bubble-dmz");
    const app = envOf("erp-app", "test");
    assert.equal(app.LIFELINE_MEMORY_MIB, "512", "the group's memory");
    assert.equal(app.LIFELINE_CPUS, "1");
    assert.equal(app.LIFELINE_NETWORK_MAPPING, "");
    await ok(["test", "stop", "erp", "--dir", dirB]);

    await ok(["failover", "erp", "--dir", dirB]);
    assert.equal(envOf("erp-db", "live").LIFELINE_NET_PROD, "dr-net", "the live mapping on a live failover");
    await ok(["rollback", "erp", "--dir", dirB]);
    await until("erp protected again", async () => (await state(dirA)) === "protected");
  });

  it("'group' drops a VM's own value, a bad one is refused with the flag named, and only the protected site changes VMs", async () => {
    await ok(["vm", "update", "erp", "erp-db", "--memory", "group", "--qemu-args", "", "--dir", dirA]);
    assert.deepEqual((await vmsAt(dirB)).find((v) => v.name === "erp-db")?.compute, { cpus: 4, testNetwork: { prod: "bubble", dmz: "bubble-dmz" }, liveNetwork: { prod: "dr-net" } });
    const bad = await lifeline(["vm", "update", "erp", "erp-db", "--test-network", "prod", "--dir", dirA]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /--test-network "prod" is not FROM=TO/);
    const tooSmall = await lifeline(["vm", "update", "erp", "erp-db", "--memory", "1", "--dir", dirA]);
    assert.notEqual(tooSmall.code, 0);
    assert.match(tooSmall.stderr, /memoryMiB/);
    const missing = await lifeline(["vm", "update", "erp", "nope", "--cpus", "2", "--dir", dirA]);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /nope/);
    const atB = await lifeline(["vm", "update", "erp", "erp-db", "--cpus", "2", "--dir", dirB]);
    assert.notEqual(atB.code, 0);
  });
});
