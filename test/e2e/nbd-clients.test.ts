/**
 * `lifeline nbd serve` as real clients see it: nbdinfo, qemu-io, qemu-img and
 * nbdcopy, each checked against the bytes in the file behind the export.
 */
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { run, serveNbd, sha256File, tempDir, writePatternFile, type Served } from "./harness.js";

describe("nbd-clients", () => {
  let dir: string;
  let server: Served;
  const MiB = 1 << 20;

  before(async () => {
    dir = tempDir("nbd-clients");
    writePatternFile(path.join(dir, "source.raw"), 32 * MiB, 7);
    server = await serveNbd([
      "--export", `disk=${path.join(dir, "disk.raw")}:64MiB`,
      "--export", `copy=${path.join(dir, "copy.raw")}:32MiB`,
      "--export", `golden=${path.join(dir, "source.raw")}`,
      "--read-only", "golden",
    ]);
  });

  after(async () => {
    assert.equal(await server.stop(), 0, "SIGTERM stops the server with exit code 0");
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("nbdinfo lists the exports with their sizes, flags and block sizes", async () => {
    const list = JSON.parse(await run("nbdinfo", ["--json", "--list", server.uri("")]));
    const names = list.exports.map((e: { "export-name": string }) => e["export-name"]).sort();
    assert.deepEqual(names, ["copy", "disk", "golden"]);
    const info = JSON.parse(await run("nbdinfo", ["--json", server.uri("disk")]));
    const disk = info.exports[0];
    assert.equal(disk["export-size"], 64 * MiB);
    assert.equal(disk.is_read_only, false);
    assert.equal(disk.can_multi_conn, true);
    assert.equal(disk.can_fua, true);
    assert.equal(disk.can_trim, true);
    assert.equal(disk.can_zero, true);
    assert.equal(disk.can_fast_zero, true);
    assert.equal(disk.block_size_minimum, 1);
    assert.equal(disk.block_size_preferred, 4096);
    assert.equal(disk.block_size_maximum, 32 * MiB);
    assert.equal(info.structured, true, "structured replies are in use");
    const golden = JSON.parse(await run("nbdinfo", ["--json", server.uri("golden")])).exports[0];
    assert.equal(golden.is_read_only, true);
  });

  it("qemu-io writes, reads and verifies patterns, aligned and not, with FUA, zeroes and discard", async () => {
    const uri = server.uri("disk");
    const out = await run("qemu-io", [
      "-f", "raw",
      "-c", "write -P 0x11 0 1M",
      "-c", "write -P 0x22 4097 12345",
      "-c", "write -f -P 0x33 2M 64k",
      "-c", "write -z 3M 1M",
      "-c", "write -P 0x44 5M 3M",
      "-c", "discard 5M 1M",
      "-c", "read -P 0x11 0 4097",
      "-c", "read -P 0x22 4097 12345",
      "-c", "read -P 0x11 16442 32768",
      "-c", "read -P 0x33 2M 64k",
      "-c", "read -P 0 3M 1M",
      "-c", "read -P 0 5M 1M",
      "-c", "read -P 0x44 6M 2M",
      "-c", "aio_write -P 0x55 10M 64k",
      "-c", "aio_write -P 0x66 11M 64k",
      "-c", "aio_flush",
      "-c", "read -P 0x55 10M 64k",
      "-c", "read -P 0x66 11M 64k",
      uri,
    ]);
    assert.doesNotMatch(out, /Pattern verification failed|error|failed/i);
    // The bytes are in the file behind the export, where the client put them.
    const file = fs.readFileSync(path.join(dir, "disk.raw"));
    assert.equal(file[4096], 0x11);
    assert.equal(file[4097], 0x22);
    assert.equal(file[2 * MiB], 0x33);
    assert.equal(file[6 * MiB], 0x44);
  });

  it("nbdinfo --map shows holes after discard and data where written", async () => {
    const uri = server.uri("copy");
    await run("qemu-io", ["-f", "raw", "-c", "write -P 0x77 0 8M", "-c", "discard 2M 4M", uri]);
    const map = JSON.parse(await run("nbdinfo", ["--json", "--map", uri])) as Array<{ offset: number; length: number; type: number }>;
    const at = (offset: number) => map.find((e) => e.offset <= offset && offset < e.offset + e.length)!;
    assert.equal(at(0).type, 0, "written data is data");
    assert.equal(at(3 * MiB).type & 1, 1, "discarded range is a hole");
    assert.equal(at(7 * MiB).type, 0);
    assert.equal(at(20 * MiB).type, 3, "never written is hole and zero");
  });

  it("qemu-img convert in and out gives the same bytes, and qemu-img compare agrees", async () => {
    const source = path.join(dir, "source.raw");
    await run("qemu-img", ["convert", "-n", "-f", "raw", "-O", "raw", source, server.uri("copy")]);
    await run("qemu-img", ["compare", "-f", "raw", "-F", "raw", source, server.uri("copy")]);
    const back = path.join(dir, "back.raw");
    await run("qemu-img", ["convert", "-f", "raw", "-O", "raw", server.uri("copy"), back]);
    assert.equal(await sha256File(back), await sha256File(source));
    // Holes stayed holes on the way out: the copy uses less space than its size.
    assert.ok(fs.statSync(back).blocks * 512 < 32 * MiB);
  });

  it("nbdcopy copies both ways with the same hash", async () => {
    const source = path.join(dir, "source.raw");
    await run("nbdcopy", ["--flush", source, server.uri("copy")]);
    const out = path.join(dir, "nbdcopy-out.raw");
    await run("nbdcopy", ["--connections=4", "--requests=16", server.uri("copy"), out]);
    assert.equal(await sha256File(out), await sha256File(source));
    await run("nbdcopy", [server.uri("golden"), path.join(dir, "golden-out.raw")]);
    assert.equal(await sha256File(path.join(dir, "golden-out.raw")), await sha256File(source));
  });

  it("refuses writes to a read-only export and keeps serving", async () => {
    await assert.rejects(run("qemu-io", ["-f", "raw", "-c", "write -P 1 0 4k", server.uri("golden")]), /Operation not permitted|read-only|failed/i);
    await run("qemu-io", ["-f", "raw", "-r", "-c", "read 0 4k", server.uri("golden")]);
  });
});
