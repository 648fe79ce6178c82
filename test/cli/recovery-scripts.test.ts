/**
 * recovery-scripts: the operator's before and after scripts around the steps
 * of recovery operations (re-IP, DNS, notifications), run at the recovery
 * site with the operation, the step, the point and the disks' URIs in their
 * environment; a failing script fails its step with its output in the task,
 * and the operation is undone. Operations that cannot be undone (test stop,
 * commit, rollback) run the before script once, ahead of their steps.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { lifeline, ok, pairedSites, tempDir, until, type Daemon } from "./harness.js";

describe("recovery-scripts", () => {
  const root = tempDir();
  const log = path.join(root, "scripts.log");
  let a: Daemon;
  let b: Daemon;
  let dirA = "";
  let dirB = "";
  const state = async (dir: string) => JSON.parse(await ok(["status", "erp", "--json", "--dir", dir])).state as string;

  before(async () => {
    ({ a, b, dirA, dirB } = await pairedSites(root));
    await ok(["group", "create", "erp", "--recovery-site", "B", "--dir", dirA]);
    await ok(["vm", "add", "erp", "erp-db", "--disk", "data:4MiB", "--dir", dirA]);
    await until("erp protected", async () => (await state(dirA)) === "protected");
    await ok(["checkpoint", "add", "erp", "--tag", "t1", "--dir", dirA]);
  });
  after(async () => {
    await Promise.all([a.stop("SIGKILL"), b.stop("SIGKILL")]);
    fs.rmSync(root, { recursive: true, force: true });
  });

  it("runs before and after scripts around each step, with the operation, the step, the point and the disks in their environment", async () => {
    const record = `echo "$LIFELINE_PHASE $LIFELINE_OPERATION [$LIFELINE_STEP] $LIFELINE_POINT $LIFELINE_DISK_URIS" >> ${log}`;
    await ok(["group", "update", "erp", "--compute", "none", "--before-script", record, "--after-script", record, "--dir", dirA]);
    await ok(["test", "start", "erp", "--point", "tag:t1", "--dir", dirB]);
    await ok(["test", "stop", "erp", "--dir", dirB]);
    const lines = fs.readFileSync(log, "utf8").trim().split("\n");
    const steps = ["pin the point", "open views and overlays", "export test disks", "start VMs on the test network"];
    assert.deepEqual(lines.map((l) => l.replace(/ tag:t1.*/, "")), [...steps.flatMap((s) => [`before test-start [${s}]`, `after test-start [${s}]`]), "before test-stop []"]);
    assert.match(lines[0]!, /^before test-start \[pin the point\] tag:t1 \(seq \d+\) nbd:\/\/127\.0\.0\.1:\d+\/test\/erp\/erp-db\/data$/);
    fs.rmSync(log);
  });

  it("a failing before script stops the operation, with its output in the task", async () => {
    await ok(["group", "update", "erp", "--compute", "none", "--before-script", "echo the DNS server does not answer; exit 3", "--dir", dirA]);
    const r = await lifeline(["test", "start", "erp", "--dir", dirB]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /pin the point: the before script failed with exit code 3: the DNS server does not answer/);
    assert.notEqual(await state(dirB), "test-running");
  });

  it("a script failing after one step undoes that step and those before it; replication resumes", async () => {
    const reIp = `[ "$LIFELINE_STEP" = "export recovered disks" ] && { echo re-IP failed >&2; exit 4; }; true`;
    await ok(["group", "update", "erp", "--compute", "none", "--after-script", reIp, "--dir", dirA]);
    const r = await lifeline(["failover", "erp", "--dir", dirB]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /was rolled back: export recovered disks: the after script failed with exit code 4: re-IP failed/);
    const task = JSON.parse(await ok(["tasks", "--json", "--dir", dirB])).find((t: { kind: string }) => t.kind === "failover") as { steps: { name: string; state: string }[] };
    assert.deepEqual(task.steps.map((s) => `${s.name}:${s.state}`), ["stop replication:undone", "pin the point:undone", "open views and overlays:undone", "export recovered disks:failed", "start VMs on the live network:pending"]);
    assert.doesNotMatch(await ok(["status", "erp", "--json", "--dir", dirB]), /"export":"erp\//, "the failed step's exports are gone too");
    await until("erp protected again", async () => (await state(dirA)) === "protected");
    await ok(["checkpoint", "add", "erp", "--tag", "after-undo", "--dir", dirA]);
  });
});
