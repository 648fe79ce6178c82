/**
 * recovery-boot: a real VM boot through the site daemons. A boot sector that
 * prints a marker with a generation number is written through the protected
 * export; the group's compute driver is set to qemu; a failover test at the
 * first tag, and a live failover at the second, boot qemu-system-x86_64
 * (software emulation) from the recovered NBD disk, and the serial console
 * shows the generation of the chosen point.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { requireTool } from "../e2e/harness.js";
import { bootSector } from "../orchestration/boot-sector.js";
import { ok, pairedSites, tempDir, until, type Daemon } from "./harness.js";

describe("recovery-boot", () => {
  const root = tempDir();
  let a: Daemon;
  let b: Daemon;
  let dirA = "";
  let dirB = "";
  const consoleLog = () => path.join(dirB, "recovery", "erp", "vms", "erp-app.console.log");

  const writeSector = (marker: string) => {
    const file = path.join(root, "sector.raw");
    fs.writeFileSync(file, bootSector(marker));
    execFileSync("qemu-io", ["-f", "raw", "-c", `write -s ${file} 0 512`, `nbd://127.0.0.1:${a.run.nbd.port}/erp/erp-app/os`], { stdio: "pipe", timeout: 60_000 });
  };
  const booted = (gen: string) => until(`the console to show ${gen}`, () => fs.existsSync(consoleLog()) && fs.readFileSync(consoleLog(), "utf8").includes(gen), 90_000);

  before(async () => {
    requireTool("qemu-system-x86_64");
    ({ a, b, dirA, dirB } = await pairedSites(root));
    await ok(["group", "create", "erp", "--recovery-site", "B", "--compute", "qemu", "--vm-memory", "64", "--dir", dirA]);
    await ok(["vm", "add", "erp", "erp-app", "--disk", "os:1MiB", "--dir", dirA]);
    await until("erp protected", async () => JSON.parse(await ok(["status", "erp", "--json", "--dir", dirA])).state === "protected");
    writeSector("LIFELINE-MARKER gen=0001");
    await ok(["checkpoint", "add", "erp", "--tag", "gen1", "--dir", dirA]);
    writeSector("LIFELINE-MARKER gen=0002");
    await ok(["checkpoint", "add", "erp", "--tag", "gen2", "--dir", dirA]);
  });
  after(async () => {
    await Promise.all([a.stop("SIGKILL"), b.stop("SIGKILL")]);
    fs.rmSync(root, { recursive: true, force: true });
  });

  it("a failover test boots the VM as it was at the chosen tag, with no network", async () => {
    const g = JSON.parse(await ok(["status", "erp", "--json", "--dir", dirB]));
    assert.equal(g.compute.driver, "qemu");
    await ok(["test", "start", "erp", "--point", "tag:gen1", "--dir", dirB]);
    await booted("gen=0001");
    const task = JSON.parse(await ok(["tasks", "--json", "--dir", dirB]))[0];
    assert.match(task.steps.at(-1).detail, /1 VMs started \(qemu\)/);
    await ok(["test", "stop", "erp", "--result", "pass", "--dir", dirB]);
    fs.rmSync(consoleLog(), { force: true });
  });

  it("a live failover boots the later point; rollback stops the VM and replication resumes", async () => {
    await ok(["failover", "erp", "--point", "tag:gen2", "--dir", dirB]);
    await booted("gen=0002");
    await ok(["rollback", "erp", "--dir", dirB]);
    await until("erp protected again", async () => JSON.parse(await ok(["status", "erp", "--json", "--dir", dirA])).state === "protected");
  });
});
