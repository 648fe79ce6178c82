/**
 * recovery-scripts: the operator's before and after scripts around recovery
 * operations (re-IP, DNS, notifications), run at the recovery site with the
 * operation, the point and the disks' URIs in their environment; a failing
 * before script stops the operation with its output in the task, a failing
 * after script undoes it.
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

  it("runs before and after scripts with the operation, the point and the disks in their environment", async () => {
    const record = `echo "$LIFELINE_PHASE $LIFELINE_OPERATION $LIFELINE_POINT $LIFELINE_DISK_URIS" >> ${log}`;
    await ok(["group", "update", "erp", "--compute", "none", "--before-script", record, "--after-script", record, "--dir", dirA]);
    await ok(["test", "start", "erp", "--point", "tag:t1", "--dir", dirB]);
    await ok(["test", "stop", "erp", "--dir", dirB]);
    const lines = fs.readFileSync(log, "utf8").trim().split("\n");
    assert.equal(lines.length, 3, lines.join("\n"));
    assert.match(lines[0]!, /^before test-start tag:t1 \(seq \d+\) nbd:\/\/127\.0\.0\.1:\d+\/test\/erp\/erp-db\/data$/);
    assert.match(lines[1]!, /^after test-start tag:t1/);
    assert.match(lines[2]!, /^before test-stop tag:t1/);
  });

  it("a failing before script stops the operation, with its output in the task", async () => {
    await ok(["group", "update", "erp", "--compute", "none", "--before-script", "echo the DNS server does not answer; exit 3", "--dir", dirA]);
    const r = await lifeline(["test", "start", "erp", "--dir", dirB]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /before script: the before script failed with exit code 3: the DNS server does not answer/);
    assert.notEqual(await state(dirB), "test-running");
  });

  it("a failing after script undoes a failover; replication resumes", async () => {
    await ok(["group", "update", "erp", "--compute", "none", "--after-script", "echo re-IP failed >&2; exit 4", "--dir", dirA]);
    const r = await lifeline(["failover", "erp", "--dir", dirB]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /was rolled back: after script: the after script failed with exit code 4: re-IP failed/);
    await until("erp protected again", async () => (await state(dirA)) === "protected");
    await ok(["checkpoint", "add", "erp", "--tag", "after-undo", "--dir", dirA]);
  });
});
