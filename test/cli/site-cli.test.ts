/**
 * The CLI against two real site daemons: init, start, pair, groups and VMs,
 * status, errors (one line, non-zero), roles, disks really served over NBD,
 * SIGTERM exiting 0 and a restart resuming the group.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { Daemon, lifeline, ok, tempDir } from "./harness.js";

describe("cli-site", () => {
  const root = tempDir();
  const dirA = path.join(root, "A");
  const dirB = path.join(root, "B");
  const a = new Daemon(dirA);
  const b = new Daemon(dirB);
  let adminA = "";

  before(async () => {
    const init = JSON.parse(await ok(["site", "init", "--dir", dirA, "--name", "A", "--api-port", "0", "--nbd-port", "0", "--replication-port", "0", "--json"]));
    adminA = init.adminToken;
    await ok(["site", "init", "--dir", dirB, "--name", "B", "--api-port", "0", "--nbd-port", "0", "--replication-port", "0"]);
    await Promise.all([a.start(), b.start()]);
  });
  after(async () => {
    await Promise.all([a.stop(), b.stop()]);
    fs.rmSync(root, { recursive: true, force: true });
  });

  it("site init refuses a directory that already holds a site", async () => {
    const r = await lifeline(["site", "init", "--dir", dirA, "--name", "A"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /already holds a site/);
    const raw = fs.readFileSync(path.join(dirA, "lifeline.db")).toString("latin1");
    assert.ok(!raw.includes(adminA), "the admin token is stored only as a hash");
  });

  it("pairs A with B; a reused token is refused with a clear message", async () => {
    const token = (await ok(["site", "pair-token", "--dir", dirB])).trim();
    assert.match(token, /^llpair_/);
    const out = await ok(["pair", "--dir", dirA, "--peer", b.run.apiUrl, "--token", token]);
    assert.match(out, /paired with site B/);
    const again = await lifeline(["pair", "--dir", dirA, "--peer", b.run.apiUrl, "--token", token]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already used/);
  });

  it("caps the link to B with peer update; peers lists it; a bad rate is refused", async () => {
    assert.match(await ok(["peer", "update", "B", "--bandwidth", "20MiB/s", "--dir", dirA]), /replication to site B: at most 20(\.0)? MiB\/s/);
    assert.match(await ok(["peers", "--dir", dirA]), /^B .* 20(\.0)? MiB\/s/m);
    const bad = await lifeline(["peer", "update", "B", "--bandwidth", "fast", "--dir", dirA]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /--bandwidth/);
    assert.match(await ok(["peer", "update", "B", "--bandwidth", "unlimited", "--dir", dirA]), /no bandwidth limit/);
  });

  it("creates a group with VMs and serves its disks over NBD", async () => {
    await ok(["group", "create", "erp", "--recovery-site", "B", "--rpo", "5s", "--journal-limit", "1GiB", "--dir", dirA]);
    await ok(["vm", "add", "erp", "erp-db", "--disk", "data:8MiB", "--disk", "log:4MiB", "--dir", dirA, "--boot-delay", "10s"]);
    const status = JSON.parse(await ok(["status", "--json"], { LIFELINE_SITE: a.run.apiUrl, LIFELINE_TOKEN: adminA }));
    assert.equal(status.length, 1);
    assert.equal(typeof status[0].state, "string");
    assert.match(status[0].state, /^[a-z-]+$/);
    const uri = status[0].vms[0].disks[0].uri as string;
    assert.equal(uri, `nbd://127.0.0.1:${a.run.nbd.port}/erp/erp-db/data`);
    execFileSync("qemu-io", ["-f", "raw", "-c", "write -P 0x5a 0 64k", uri], { stdio: "pipe" });
    const atB = JSON.parse(await ok(["status", "erp", "--dir", dirB, "--json"]));
    assert.equal(atB.role, "recovery");
    assert.equal(atB.vms[0].bootDelayMs, 10_000);
    assert.match(await ok(["status", "--dir", dirA]), /^GROUP\s+ROLE\s+STATE/);
  });

  it("errors are one line naming the site, with a hint, and exit non-zero", async () => {
    const missing = await lifeline(["status", "nope", "--dir", dirA]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, new RegExp(`^lifeline: group "nope" not found at site A \\(${a.run.apiUrl.replace(/\./g, "\\.")}\\)\n`));
    const bad = await lifeline(["group", "update", "erp", "--rpo", "fast", "--dir", dirA]);
    assert.match(bad.stderr, /--rpo: "fast" is not a duration/);
    const unauth = await lifeline(["status", "--site", a.run.apiUrl, "--token", "llt_wrong"]);
    assert.match(unauth.stderr, /token is unknown or revoked/);
    const viewer = (await ok(["token", "create", "--role", "viewer", "--dir", dirA])).split("\n")[0]!;
    const denied = await lifeline(["group", "delete", "erp", "--site", a.run.apiUrl, "--token", viewer]);
    assert.match(denied.stderr, /needs the admin role/);
    const nowhere = await lifeline(["status"], { LIFELINE_SITE: "", LIFELINE_TOKEN: "" });
    assert.match(nowhere.stderr, /which site\?/);
  });

  it("SIGTERM stops a daemon with exit 0; a restart serves the group again with its data", async () => {
    assert.equal(await a.stop(), 0);
    assert.ok(!fs.existsSync(path.join(dirA, "run.json")));
    await a.start();
    const uri = `nbd://127.0.0.1:${a.run.nbd.port}/erp/erp-db/data`;
    const read = execFileSync("qemu-io", ["-f", "raw", "-c", "read -P 0x5a 0 64k", uri], { stdio: "pipe" }).toString();
    assert.match(read, /read 65536\/65536 bytes/);
    assert.doesNotMatch(read, /verification failed/i);
    const events = JSON.parse(await ok(["events", "--since", "1h", "--json", "--dir", dirA]));
    assert.ok(events.some((e: { kind: string }) => e.kind === "vm-added"));
  });

  it("removes the VM and deletes the group at both sites", async () => {
    await ok(["vm", "remove", "erp", "erp-db", "--dir", dirA]);
    await ok(["group", "delete", "erp", "--dir", dirA]);
    assert.equal(JSON.parse(await ok(["status", "--json", "--dir", dirB])).length, 0);
  });
});
