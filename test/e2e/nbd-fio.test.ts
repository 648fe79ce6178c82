/**
 * fio's own NBD engine (libnbd) against `lifeline nbd serve`, verifying every
 * block it wrote with crc32c; and several fio jobs on one export at once.
 */
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { run, serveNbd, tempDir, type Served } from "./harness.js";

function fioFailed(out: string): boolean {
  return /verify: bad|crc32c: verify failed|err=\s*[1-9]/.test(out);
}

describe("nbd-fio", () => {
  let dir: string;
  let server: Served;

  before(async () => {
    dir = tempDir("nbd-fio");
    server = await serveNbd(["--export", `disk=${path.join(dir, "disk.raw")}:512MiB`]);
  });

  after(async () => {
    assert.equal(await server.stop(), 0);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const fio = (args: string[]) =>
    run("fio", ["--name=lifeline", "--ioengine=nbd", `--uri=${server.uri("disk")}`, "--output-format=normal", "--verify_state_save=0", ...args]);

  it("random 4 KiB writes at iodepth 32 verify with crc32c", async () => {
    const out = await fio(["--rw=randwrite", "--bs=4k", "--iodepth=32", "--size=64M", "--verify=crc32c", "--do_verify=1", "--verify_fatal=1"]);
    assert.ok(!fioFailed(out), out);
  });

  it("sequential 1 MiB writes verify with crc32c, with a flush every 16 writes", async () => {
    const out = await fio(["--rw=write", "--bs=1M", "--iodepth=8", "--size=256M", "--fsync=16", "--verify=crc32c", "--do_verify=1", "--verify_fatal=1"]);
    assert.ok(!fioFailed(out), out);
  });

  it("four fio jobs on one export at once (multi-conn) each verify their own region", async () => {
    const out = await fio([
      "--rw=randwrite", "--bs=4k", "--iodepth=16", "--numjobs=4", "--size=32M", "--offset_increment=64M",
      "--verify=crc32c", "--do_verify=1", "--verify_fatal=1", "--group_reporting",
    ]);
    assert.ok(!fioFailed(out), out);
  });
});
