/**
 * Two site daemons (separate processes) from `site init` to a protected group
 * with writes through NBD; tagged checkpoints verified byte for byte at the
 * recovery site; SIGKILL and restart of each daemon (resumes, nothing that
 * was reported durable is lost).
 */
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { Daemon, ok, tempDir } from "./harness.js";

const MiB = 1024 * 1024;

describe("site-replication", () => {
  const root = tempDir();
  const dirA = path.join(root, "A");
  const dirB = path.join(root, "B");
  const a = new Daemon(dirA);
  const b = new Daemon(dirB);
  const checkpoints: Record<string, string> = {};

  const uri = () => `nbd://127.0.0.1:${a.run.nbd.port}/erp/erp-db/data`;
  const qemuIo = (cmd: string) => execFileSync("qemu-io", ["-f", "raw", "-c", cmd, uri()], { stdio: "pipe", timeout: 60_000 }).toString();
  async function until(what: string, check: () => Promise<boolean>): Promise<void> {
    const deadline = Date.now() + 60_000;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  const protectedAtA = () => until("erp protected at A", async () => JSON.parse(await ok(["status", "erp", "--json", "--dir", dirA])).state === "protected");

  before(async () => {
    for (const [dir, name] of [[dirA, "A"], [dirB, "B"]] as const) {
      await ok(["site", "init", "--dir", dir, "--name", name, "--api-port", "0", "--nbd-port", "0", "--replication-port", "0"]);
    }
    await Promise.all([a.start(), b.start()]);
    const token = (await ok(["site", "pair-token", "--dir", dirB])).trim();
    await ok(["pair", "--dir", dirA, "--peer", b.run.apiUrl, "--token", token]);
  });
  after(async () => {
    await Promise.all([a.stop("SIGKILL"), b.stop("SIGKILL")]);
    fs.rmSync(root, { recursive: true, force: true });
  });

  it("protects a new group and replicates writes made through NBD", async () => {
    await ok(["group", "create", "erp", "--recovery-site", "B", "--rpo", "10s", "--dir", dirA]);
    await ok(["vm", "add", "erp", "erp-db", "--disk", "data:16MiB", "--disk", "log:8MiB", "--dir", dirA]);
    await protectedAtA();
    qemuIo("write -P 0x11 0 1M");
    checkpoints.t1 = JSON.parse(await ok(["checkpoint", "add", "erp", "--tag", "t1", "--json", "--dir", dirA])).id;
    qemuIo("write -P 0x22 0 1M");
    const list = JSON.parse(await ok(["checkpoints", "erp", "--tag", "t1", "--json", "--dir", dirA]));
    assert.equal(list.length, 1);
    assert.deepEqual(Object.keys(list[0]).sort(), ["consistent", "id", "seq", "tag", "tags", "time"]);
    assert.equal(list[0].id, checkpoints.t1);
    assert.equal(list[0].consistent, true);
  });

  it("resumes after SIGKILL of the protected site's daemon", async () => {
    await a.stop("SIGKILL");
    await a.start();
    await protectedAtA();
    qemuIo("write -P 0x33 1M 1M");
    checkpoints.t2 = JSON.parse(await ok(["checkpoint", "add", "erp", "--tag", "t2", "--json", "--dir", dirA])).id;
  });

  it("resumes after SIGKILL of the recovery site's daemon, keeping every durable checkpoint", async () => {
    await b.stop("SIGKILL");
    await b.start();
    await protectedAtA();
    qemuIo("write -P 0x44 2M 1M");
    checkpoints.t3 = JSON.parse(await ok(["checkpoint", "add", "erp", "--tag", "t3", "--json", "--dir", dirA])).id;
    const tags = JSON.parse(await ok(["checkpoints", "erp", "--json", "--dir", dirB])).map((c: { tag: string | null }) => c.tag);
    for (const t of ["t1", "t2", "t3"]) assert.ok(tags.includes(t), `${t} in ${tags.join()}`);
  });

  it("holds each checkpoint's contents byte for byte at the recovery site", async () => {
    assert.equal(await b.stop(), 0);
    const image = (id: string) => {
      const out = path.join(root, `${id}.raw`);
      execFileSync(process.execPath, [path.join(process.cwd(), "bin/lifeline.js"), "journal", "export", path.join(dirB, "data", "erp"), "--disk", "erp-db/data", "--checkpoint", id, "--out", out], { stdio: "pipe" });
      return fs.readFileSync(out);
    };
    const filled = (buf: Buffer, from: number, byte: number) => buf.subarray(from, from + MiB).every((x) => x === byte);
    const t1 = image(checkpoints.t1!);
    assert.ok(filled(t1, 0, 0x11) && filled(t1, MiB, 0));
    const t2 = image(checkpoints.t2!);
    assert.ok(filled(t2, 0, 0x22) && filled(t2, MiB, 0x33) && filled(t2, 2 * MiB, 0));
    const t3 = image(checkpoints.t3!);
    assert.ok(filled(t3, 0, 0x22) && filled(t3, MiB, 0x33) && filled(t3, 2 * MiB, 0x44));
  });

  it("a VM added with an existing disk file is synced in full, with the group's other disks, to a new journal", async () => {
    await b.start();
    const file = path.join(root, "existing.raw");
    fs.writeFileSync(file, Buffer.alloc(4 * MiB, 0x55));
    await ok(["vm", "add", "erp", "erp-app", "--disk", `os:4MiB:${file}`, "--dir", dirA]);
    await protectedAtA();
    const t4 = JSON.parse(await ok(["checkpoint", "add", "erp", "--tag", "t4", "--json", "--dir", dirA])).id as string;
    assert.equal(await b.stop(), 0);
    const image = (disk: string) => {
      const out = path.join(root, `t4-${disk.replace("/", "-")}.raw`);
      execFileSync(process.execPath, [path.join(process.cwd(), "bin/lifeline.js"), "journal", "export", path.join(dirB, "data", "erp"), "--disk", disk, "--checkpoint", t4, "--out", out], { stdio: "pipe" });
      return fs.readFileSync(out);
    };
    assert.ok(image("erp-app/os").equals(Buffer.alloc(4 * MiB, 0x55)));
    const data = image("erp-db/data");
    assert.ok(data.subarray(0, MiB).every((x) => x === 0x22) && data.subarray(2 * MiB, 3 * MiB).every((x) => x === 0x44));
  });

  it("SIGKILL of the protected site under fio writes: the restart resyncs only the hot extents, and the newest point equals production", async () => {
    await b.start();
    await protectedAtA();
    // fio writes the first 4 MiB (one activity-log extent) of the 16 MiB disk; A is killed mid-run.
    // --thread: jobs as threads, so that killing fio kills its job too (a forked job outlives its parent).
    const fio = spawn("fio", ["--name=w", "--thread", "--ioengine=nbd", `--uri=${uri()}`, "--rw=randwrite", "--bs=4k", "--iodepth=8", "--size=4M", "--time_based", "--runtime=30", "--rate=4m"], { stdio: "ignore" });
    await new Promise((r) => setTimeout(r, 1500));
    await a.stop("SIGKILL");
    fio.kill("SIGKILL");
    await a.start();
    await protectedAtA();
    const sync = (JSON.parse(await ok(["events", "--json", "--dir", dirA])) as { kind: string; message: string; data: { bytes?: number } }[]).filter((e) => e.kind === "bitmap-sync-started").pop();
    assert.ok(sync, "a resync ran after the crash");
    assert.match(sync.message, /stopped uncleanly; resyncing \d+ hot extents/);
    assert.ok((sync.data.bytes ?? Infinity) <= 8 * MiB, `only hot extents were resynced: ${sync.message}`);
    const t5 = JSON.parse(await ok(["checkpoint", "add", "erp", "--tag", "t5", "--json", "--dir", dirA])).id as string;
    const production = path.join(root, "prod-t5.raw");
    execFileSync("nbdcopy", [uri(), production], { stdio: "pipe", timeout: 60_000 });
    assert.equal(await b.stop(), 0);
    const out = path.join(root, "t5.raw");
    execFileSync(process.execPath, [path.join(process.cwd(), "bin/lifeline.js"), "journal", "export", path.join(dirB, "data", "erp"), "--disk", "erp-db/data", "--checkpoint", t5, "--out", out], { stdio: "pipe" });
    assert.ok(fs.readFileSync(out).equals(fs.readFileSync(production)), "the checkpoint after the crash equals production");
  });
});
