import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { FileDevice } from "../../src/blockdev/index.js";
import { NbdServer, StaticExports } from "../../src/nbd/index.js";
import { ComputeError, NoneDriver, QemuDriver, ScriptDriver, type VmLaunch } from "../../src/orchestration/compute/index.js";
import { requireTool } from "../e2e/harness.js";
import { bootSector } from "./boot-sector.js";

async function waitFor(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return check();
}

describe("compute drivers", () => {
  let dir: string;
  let server: NbdServer;
  let device: FileDevice;
  let uri: string;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "lifeline-compute-"));
    device = await FileDevice.open(path.join(dir, "boot.raw"), { sizeBytes: 1 << 20 });
    await device.write(0, bootSector("LIFELINE-MARKER gen=0042"));
    server = new NbdServer({ exports: new StaticExports().add({ name: "grp/vm1/boot", device }) });
    const { port } = await server.listen(0);
    uri = `nbd://127.0.0.1:${port}/grp/vm1/boot`;
  });

  after(async () => {
    await server.close();
    await device.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const launch = (overrides: Partial<VmLaunch> = {}): VmLaunch => ({
    name: "vm1",
    group: "grp",
    disks: [{ name: "boot", uri }],
    network: "test",
    networkMapping: {},
    memoryMiB: 32,
    workDir: path.join(dir, "work"),
    ...overrides,
  });

  it("qemu boots a VM from an NBD disk and its console shows what the disk holds", async () => {
    requireTool("qemu-system-x86_64");
    const vm = await new QemuDriver().start(launch());
    try {
      const console = vm.details.console!;
      const seen = await waitFor(() => fs.readFileSync(console, "utf8").includes("LIFELINE-MARKER gen=0042"), 60_000);
      assert.ok(seen, `the console shows the marker: ${JSON.stringify(fs.readFileSync(console, "utf8"))}`);
    } finally {
      await vm.stop();
    }
  });

  it("qemu gives a test VM no network, or only an isolated one", () => {
    const driver = new QemuDriver({ accel: "tcg" });
    const isolated = driver.commandLine(launch()).join(" ");
    assert.match(isolated, /-nic none/);
    const restricted = driver.commandLine(launch({ networkMapping: { "isolated-user-net": "on" } })).join(" ");
    assert.match(restricted, /-nic user,restrict=on/);
    const live = driver.commandLine(launch({ network: "live" })).join(" ");
    assert.doesNotMatch(live, /restrict=on|-nic none/);
  });

  it("qemu takes a VM's memory, CPUs and extra arguments", () => {
    const args = new QemuDriver({ accel: "tcg" }).commandLine(launch({ memoryMiB: 2048, cpus: 4, extraArgs: ["-rtc", "base=utc"] }));
    assert.deepEqual(args.slice(args.indexOf("-m"), args.indexOf("-m") + 2), ["-m", "2048"]);
    assert.deepEqual(args.slice(args.indexOf("-smp"), args.indexOf("-smp") + 2), ["-smp", "4"]);
    assert.deepEqual(args.slice(-2), ["-rtc", "base=utc"]);
  });

  it("qemu reports a VM that cannot start, with qemu's own words", async () => {
    requireTool("qemu-system-x86_64");
    const bad = launch({ disks: [{ name: "boot", uri: "nbd://127.0.0.1:1/nothing" }] });
    await assert.rejects(new QemuDriver().start(bad), (err: unknown) => err instanceof ComputeError && /exited at once/.test(err.message) && err.output.length > 0);
  });

  it("script runs the operator's commands with the VM's disks and network in the environment", async () => {
    const out = path.join(dir, "script-env.txt");
    const driver = new ScriptDriver({ start: `env | grep ^LIFELINE_ | sort > ${out}`, stop: `echo stopped >> ${out}` });
    const vm = await driver.start(launch({ networkMapping: { "prod-net": "test-net" } }));
    const env = fs.readFileSync(out, "utf8");
    assert.match(env, new RegExp(`LIFELINE_DISK_BOOT=${uri.replace(/[/.]/g, "\\$&")}`));
    assert.match(env, /LIFELINE_VM=vm1/);
    assert.match(env, /LIFELINE_NETWORK=test/);
    assert.match(env, /LIFELINE_NET_PROD_NET=test-net/);
    await vm.stop();
    assert.match(fs.readFileSync(out, "utf8"), /stopped/);
  });

  it("script fails the step with the script's output, and on a timeout", async () => {
    const failing = new ScriptDriver({ start: "echo cannot reach the hypervisor >&2; exit 3", stop: "true" });
    await assert.rejects(failing.start(launch()), (err: unknown) => err instanceof ComputeError && /exit code 3/.test(err.message) && /hypervisor/.test(err.output));
    const slow = new ScriptDriver({ start: "sleep 30", stop: "true", timeoutMs: 300 });
    await assert.rejects(slow.start(launch()), /longer than 300 ms/);
  });

  it("none serves the disks and reports their URIs", async () => {
    const vm = await new NoneDriver().start(launch());
    assert.equal(vm.details["disk:boot"], uri);
    await vm.stop();
  });
});
