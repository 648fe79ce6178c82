/**
 * The real server process under bad clients: garbage, a huge option, a client
 * that vanishes mid-request. Each is dropped with a log line; everyone else is
 * served as before; the process never dies.
 */
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { run, serveNbd, tempDir, type Served } from "./harness.js";

function sendAndClose(port: number, bytes: Buffer): Promise<void> {
  return new Promise((resolve) => {
    const s = net.connect(port, "127.0.0.1", () => s.end(bytes));
    s.on("data", () => {});
    s.on("error", () => resolve());
    s.on("close", () => resolve());
  });
}

describe("nbd-robustness", () => {
  let dir: string;
  let server: Served;

  before(async () => {
    dir = tempDir("nbd-robust");
    server = await serveNbd(["--export", `disk=${path.join(dir, "disk.raw")}:16MiB`]);
  });

  after(async () => {
    assert.equal(await server.stop(), 0);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("drops garbage, bad magic and oversized requests, and keeps serving others", async () => {
    const uri = server.uri("disk");
    const busy = run("qemu-io", ["-f", "raw", "-c", "write -P 0x5a 0 8M", "-c", "read -P 0x5a 0 8M", uri]);
    const flags = Buffer.from([0, 0, 0, 3]);
    const opt = (code: number, data: Buffer) => {
      const h = Buffer.alloc(16);
      h.write("IHAVEOPT", 0, "latin1");
      h.writeUInt32BE(code, 8);
      h.writeUInt32BE(data.length, 12);
      return Buffer.concat([h, data]);
    };
    const go = (name: string) => {
      const n = Buffer.from(name);
      const d = Buffer.alloc(6 + n.length);
      d.writeUInt32BE(n.length, 0);
      n.copy(d, 4);
      return opt(7, d);
    };
    const request = (type: number, offset: bigint, length: number, magic = 0x25609513) => {
      const r = Buffer.alloc(28);
      r.writeUInt32BE(magic, 0);
      r.writeUInt16BE(type, 6);
      r.writeBigUInt64BE(offset, 16);
      r.writeUInt32BE(length, 24);
      return r;
    };
    await Promise.all([
      sendAndClose(server.port, Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n")),
      sendAndClose(server.port, Buffer.concat([flags, Buffer.alloc(64, 0xff)])),
      sendAndClose(server.port, Buffer.concat([flags, opt(7, Buffer.alloc(0)).subarray(0, 16), Buffer.alloc(100)])),
      sendAndClose(server.port, Buffer.concat([flags, go("disk"), request(0, 0n, 4096, 0xdeadbeef)])),
      sendAndClose(server.port, Buffer.concat([flags, go("disk"), request(1, 0n, 64 << 20)])),
      sendAndClose(server.port, Buffer.concat([flags, go("disk"), request(1, 2n ** 63n, 4096), Buffer.alloc(4096, 0xee)])),
      sendAndClose(server.port, Buffer.concat([flags, go("disk"), request(1, 0n, 1 << 20), Buffer.alloc(1000)])),
    ]);
    await busy;
    const out = await run("qemu-io", ["-f", "raw", "-c", "read -P 0x5a 0 8M", uri]);
    assert.doesNotMatch(out, /fail/i);
    assert.equal(server.child.exitCode, null, "the server is still running");
    assert.match(server.stderr(), /bad request magic/);
    assert.match(server.stderr(), /over the 33554432-byte limit/);
    // The write at 2^63 never reached the file: it is still 16 MiB.
    assert.equal(fs.statSync(path.join(dir, "disk.raw")).size, 16 << 20);
  });
});
