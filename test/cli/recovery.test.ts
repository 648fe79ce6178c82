/**
 * recovery-cli: two site daemons (separate processes) and the recovery
 * commands as an operator runs them against the recovery site: a failover
 * test at a tagged checkpoint read back with nbdcopy, its writes reaching
 * neither production nor the replica; a second operation refused while one
 * runs; a live failover to an earlier point, rollback (replication resumes),
 * failover again, writes by the recovered VM, commit, a restart that serves
 * the committed disks again; a restore; and SIGKILL of the recovery site in
 * the middle of a test and of a failover.
 */
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { lifeline, ok, pairedSites, tempDir, until, type Daemon } from "./harness.js";

const MiB = 1024 * 1024;
const SIZE = 8 * MiB;

describe("recovery-cli", () => {
  const root = tempDir();
  let a: Daemon;
  let b: Daemon;
  let dirA = "";
  let dirB = "";
  const tags: Record<string, string> = {};

  const nbdA = () => `nbd://127.0.0.1:${a.run.nbd.port}`;
  const nbdB = () => `nbd://127.0.0.1:${b.run.nbd.port}`;
  const qemuIo = (uri: string, cmd: string) => execFileSync("qemu-io", ["-f", "raw", "-c", cmd, uri], { stdio: "pipe", timeout: 60_000 }).toString();
  const copyOut = (uri: string, name: string): Buffer => {
    const out = path.join(root, `${name}.raw`);
    execFileSync("nbdcopy", [uri, out], { stdio: "pipe", timeout: 60_000 });
    return fs.readFileSync(out);
  };
  const filled = (buf: Buffer, offset: number, length: number, byte: number) => buf.subarray(offset, offset + length).every((x) => x === byte);
  /** The image production had at each tagged checkpoint: 1 MiB at 0 of the tag's byte, the rest as before. */
  const expected = (writes: [number, number][]): Buffer => {
    const img = Buffer.alloc(SIZE);
    for (const [offset, byte] of writes) img.fill(byte, offset, offset + MiB);
    return img;
  };
  const state = async (dir: string) => JSON.parse(await ok(["status", "erp", "--json", "--dir", dir])).state as string;
  const exportsAt = (uri: string) => execFileSync("nbdinfo", ["--list", "--json", uri], { stdio: "pipe", timeout: 30_000 }).toString();
  const tag = async (name: string) => (tags[name] = JSON.parse(await ok(["checkpoint", "add", "erp", "--tag", name, "--json", "--dir", dirA])).id);

  before(async () => {
    ({ a, b, dirA, dirB } = await pairedSites(root));
    await ok(["group", "create", "erp", "--recovery-site", "B", "--rpo", "10s", "--dir", dirA]);
    await ok(["vm", "add", "erp", "erp-db", "--disk", `data:${SIZE}`, "--dir", dirA]);
    await until("erp protected at A", async () => (await state(dirA)) === "protected");
    qemuIo(`${nbdA()}/erp/erp-db/data`, "write -P 0x11 0 1M");
    await tag("t1");
    qemuIo(`${nbdA()}/erp/erp-db/data`, "write -P 0x22 1M 1M");
    await tag("t2");
  });
  after(async () => {
    await Promise.all([a.stop("SIGKILL"), b.stop("SIGKILL")]);
    fs.rmSync(root, { recursive: true, force: true });
  });

  it("a failover test serves the group at a tagged checkpoint; its writes reach neither production nor the replica", async () => {
    const out = await ok(["test", "start", "erp", "--point", "tag:t1", "--dir", dirB]);
    assert.match(out, /test\/erp\/erp-db\/data/);
    const testUri = `${nbdB()}/test/erp/erp-db/data`;
    assert.ok(copyOut(testUri, "test-t1").equals(expected([[0, 0x11]])), "the test disk is production at t1");
    qemuIo(testUri, "write -P 0x99 0 2M");
    assert.ok(filled(copyOut(testUri, "test-written"), 0, 2 * MiB, 0x99));
    assert.equal(await state(dirB), "test-running");

    // Replication goes on: a checkpoint taken at A during the test is durable at B.
    qemuIo(`${nbdA()}/erp/erp-db/data`, "write -P 0x33 2M 1M");
    await tag("t3");
    const prod = copyOut(`${nbdA()}/erp/erp-db/data`, "prod-during-test");
    assert.ok(prod.equals(expected([[0, 0x11], [MiB, 0x22], [2 * MiB, 0x33]])), "production untouched by the test");

    // One operation at a time.
    const busy = await lifeline(["failover", "erp", "--dir", dirB]);
    assert.notEqual(busy.code, 0);
    assert.match(busy.stderr, /busy: a failover test runs/);

    // Either site takes the command: the protected site forwards it to the recovery site, and lists what ran there.
    await until("A shows the test running at B", async () => (await state(dirA)) === "test-running");
    await ok(["test", "stop", "erp", "--result", "pass", "--notes", "booted, app answered", "--dir", dirA]);
    assert.doesNotMatch(exportsAt(nbdB()), /test\/erp/);
    const reports = JSON.parse(await ok(["reports", "erp", "--json", "--dir", dirA]));
    assert.equal(reports.length, 1);
    assert.equal(reports[0].kind, "test");
    assert.equal(reports[0].result, "pass");
    assert.equal(reports[0].notes, "booted, app answered");
    assert.equal(reports[0].point.checkpointId, tags.t1);
    assert.deepEqual(reports[0].exports, ["test/erp/erp-db/data"]);
    // The tested checkpoint is tagged "tested at <stop time>", listed from either site and searchable by that tag.
    const tested = `tested at ${new Date(reports[0].endedAtMs).toISOString()}`;
    tags.tested = tested;
    const listed = JSON.parse(await ok(["checkpoints", "erp", "--tag", tested, "--json", "--dir", dirA])) as { id: string; tag: string; tags: string[] }[];
    assert.deepEqual(listed.map((c) => [c.id, c.tag, c.tags]), [[tags.t1, "t1", ["t1", tested]]]);
    assert.match(await ok(["checkpoints", "erp", "--dir", dirB]), /t1, tested at /);
    const atA = JSON.parse(await ok(["tasks", "--json", "--dir", dirA])) as { kind: string; state: string }[];
    assert.ok(atA.some((t) => t.kind === "test-stop" && t.state === "succeeded"), "A lists the tasks that ran at B");
    const html = path.join(root, "report.html");
    await ok(["report", reports[0].id, "--html", html, "--dir", dirB]);
    assert.match(fs.readFileSync(html, "utf8"), /Failover test report: erp/);
  });

  it("restore writes a disk at a point to an image", async () => {
    const out = path.join(root, "restored.raw");
    await ok(["restore", "erp", "erp-db", "data", "--point", "tag:t2", "--out", out, "--dir", dirB]);
    assert.ok(fs.readFileSync(out).equals(expected([[0, 0x11], [MiB, 0x22]])));
    await ok(["restore", "erp", "erp-db", "data", "--point", `tag:${tags.tested}`, "--out", out, "--dir", dirB]);
    assert.ok(fs.readFileSync(out).equals(expected([[0, 0x11]])), "tag:tested at … names the tested checkpoint t1");
    const bad = await lifeline(["restore", "erp", "erp-db", "data", "--point", "tag:nope", "--out", out, "--dir", dirB]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /no consistent checkpoint for tag:nope/);
  });

  it("a live failover to an earlier point, then rollback: replication resumes and nothing is lost", async () => {
    const nothing = await lifeline(["commit", "erp", "--dir", dirB]);
    assert.notEqual(nothing.code, 0);
    assert.match(nothing.stderr, /not failed over/);

    await ok(["failover", "erp", "--point", "tag:t2", "--dir", dirB]);
    assert.ok(copyOut(`${nbdB()}/erp/erp-db/data`, "failover-t2").equals(expected([[0, 0x11], [MiB, 0x22]])));
    await until("erp failed over at B", async () => (await state(dirB)) === "failed-over");
    // The recovery site refuses the stream now: writes at A wait at A, and A says where the group runs.
    qemuIo(`${nbdA()}/erp/erp-db/data`, "write -P 0x44 3M 1M");
    await until("A shows the group failed over", async () => (await state(dirA)) === "failed-over");

    await ok(["rollback", "erp", "--dir", dirB]);
    await until("erp protected again", async () => (await state(dirA)) === "protected");
    await tag("t4");
    const out = path.join(root, "t4.raw");
    await ok(["restore", "erp", "erp-db", "data", "--point", "tag:t4", "--out", out, "--dir", dirB]);
    assert.ok(fs.readFileSync(out).equals(expected([[0, 0x11], [MiB, 0x22], [2 * MiB, 0x33], [3 * MiB, 0x44]])), "the write made during the failover arrived after rollback");
    const kinds = JSON.parse(await ok(["reports", "erp", "--json", "--dir", dirB])).map((r: { kind: string; result: string }) => `${r.kind}:${r.result}`);
    assert.deepEqual(kinds, ["failover:rolled back", "test:pass"]);
  });

  it("SIGKILL of the recovery site during a test rolls the test back at restart", async () => {
    await ok(["test", "start", "erp", "--dir", dirB]);
    await b.stop("SIGKILL");
    await b.start();
    assert.doesNotMatch(exportsAt(nbdB()), /test\/erp/);
    await until("erp protected after the restart", async () => (await state(dirA)) === "protected");
    await ok(["test", "start", "erp", "--point", "tag:t4", "--dir", dirB]);
    await ok(["test", "stop", "erp", "--dir", dirB]);
  });

  it("a failover survives SIGKILL of the recovery site; the recovered VM's writes are kept through commit and restart", async () => {
    await ok(["failover", "erp", "--point", "tag:t4", "--dir", dirB]);
    const recovered = () => `${nbdB()}/erp/erp-db/data`;
    qemuIo(recovered(), "write -P 0x77 4M 1M");
    qemuIo(recovered(), "flush");
    await b.stop("SIGKILL");
    await b.start();
    const want = expected([[0, 0x11], [MiB, 0x22], [2 * MiB, 0x33], [3 * MiB, 0x44], [4 * MiB, 0x77]]);
    assert.ok(copyOut(recovered(), "after-kill").equals(want), "served again from the pin and the overlay");
    assert.equal(await state(dirB), "failed-over");

    await ok(["commit", "erp", "--dir", dirB]);
    qemuIo(recovered(), "write -P 0x88 5M 1M");
    want.fill(0x88, 5 * MiB, 6 * MiB);
    assert.ok(copyOut(recovered(), "committed").equals(want));
    const again = await lifeline(["test", "start", "erp", "--dir", dirB]);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /failed over and committed/);

    assert.equal(await b.stop(), 0);
    await b.start();
    assert.ok(copyOut(recovered(), "committed-restart").equals(want), "the committed disk is served after a restart");
    assert.equal(await state(dirB), "failed-over");
    const tasks = JSON.parse(await ok(["tasks", "--all", "--json", "--dir", dirB])) as { kind: string; state: string }[];
    assert.ok(tasks.some((t) => t.kind === "commit" && t.state === "succeeded"));
  });

  it("reverse protection: the recovered disks are production at B, A keeps the journal, and the delta sync sends only what differs", async () => {
    await ok(["reverse-protect", "erp", "--dir", dirB]);
    await until("erp protected from B", async () => {
      const g = JSON.parse(await ok(["status", "erp", "--json", "--dir", dirB]));
      return g.role === "protected" && g.state === "protected";
    });
    const events = JSON.parse(await ok(["events", "--json", "--dir", dirB])) as { kind: string; data: { differingBytes?: number } }[];
    const delta = events.find((e) => e.kind === "delta-sync");
    assert.ok(delta, "a delta sync ran");
    // A's old production disk lacks the recovered VM's two writes (4M and 5M) and has 0x44 at 3M, as B does: 2 MiB differ.
    assert.equal(delta.data.differingBytes, 2 * MiB);
    qemuIo(`${nbdB()}/erp/erp-db/data`, "write -P 0x99 6M 1M");
    const r1 = JSON.parse(await ok(["checkpoint", "add", "erp", "--tag", "r1", "--json", "--dir", dirB])).id as string;
    const out = path.join(root, "r1.raw");
    await ok(["restore", "erp", "erp-db", "data", "--point", r1, "--out", out, "--dir", dirA]);
    assert.ok(fs.readFileSync(out).equals(copyOut(`${nbdB()}/erp/erp-db/data`, "prod-at-b")), "A's journal holds B's production at r1");
  });

  it("failback: a move home with the workload running keeps every acknowledged write", async () => {
    // The workload writes 64 KiB blocks at B while the move runs; what was acknowledged must be at A afterwards.
    const model = copyOut(`${nbdB()}/erp/erp-db/data`, "before-move");
    let stop = false;
    let acked = 0;
    const writer = (async () => {
      for (let i = 0; !stop && i < 400; i++) {
        const offset = (i * 7 % 128) * 64 * 1024;
        const byte = (i % 200) + 20;
        const r = await new Promise<boolean>((resolve) =>
          execFile("qemu-io", ["-f", "raw", "-c", `write -P ${byte} ${offset} 64k`, `${nbdB()}/erp/erp-db/data`], { timeout: 20_000 }, (err) => resolve(!err)),
        );
        if (r) {
          model.fill(byte, offset, offset + 64 * 1024);
          acked++;
        }
      }
    })();
    await new Promise((r) => setTimeout(r, 500));
    const moveStartMs = Date.now();
    await ok(["move", "erp", "--dir", dirA]);
    stop = true;
    await writer;
    assert.ok(acked > 0, "the workload wrote during the move");
    const g = JSON.parse(await ok(["status", "erp", "--json", "--dir", dirA]));
    assert.equal(g.role, "protected");
    assert.ok(copyOut(`${nbdA()}/erp/erp-db/data`, "after-move").equals(model), "every acknowledged write is at A");
    await until("erp protected from A again", async () => (await state(dirA)) === "protected");
    // The new direction connecting is part of the move: no critical link-down alert at either site.
    for (const dir of [dirA, dirB]) {
      const alerts = JSON.parse(await ok(["alerts", "--all", "--json", "--dir", dir])) as { kind: string; raisedAt: number }[];
      assert.deepEqual(alerts.filter((x) => x.kind === "link-down" && x.raisedAt >= moveStartMs), [], `no link-down alert at ${dir}`);
    }
    const moves = JSON.parse(await ok(["tasks", "--all", "--json", "--dir", dirA])) as { kind: string; state: string }[];
    assert.ok(moves.some((t) => t.kind === "move" && t.state === "succeeded"));
  });

  it("failover --shutdown-source: the protected site's last write is in the recovered disk; its later writes wait, and go on after rollback", async () => {
    qemuIo(`${nbdA()}/erp/erp-db/data`, "write -P 0xa1 7M 64k");
    await ok(["failover", "erp", "--shutdown-source", "--dir", dirB]);
    const recovered = copyOut(`${nbdB()}/erp/erp-db/data`, "shutdown-source");
    assert.ok(filled(recovered, 7 * MiB, 64 * 1024, 0xa1), "the last acknowledged write was replicated before the failover");
    let landed = false;
    const held = new Promise<boolean>((resolve) =>
      execFile("qemu-io", ["-f", "raw", "-c", "write -P 0xa2 7M 64k", `${nbdA()}/erp/erp-db/data`], { timeout: 60_000 }, (err) => resolve(!err)),
    ).then((r) => (landed = r));
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(landed, false, "a write at the quiesced protected site waits");
    await ok(["rollback", "erp", "--dir", dirB]);
    assert.equal(await held, true, "after rollback the held write goes on");
    await until("erp protected again", async () => (await state(dirA)) === "protected");
    await tag("t6");
    const out = path.join(root, "t6.raw");
    await ok(["restore", "erp", "erp-db", "data", "--point", "tag:t6", "--out", out, "--dir", dirB]);
    assert.ok(filled(fs.readFileSync(out), 7 * MiB, 64 * 1024, 0xa2));
  });
});
