/**
 * The native wait behind big NBD writes (spliceWhenArrived): it must end,
 * with what it moved, in every case that can stop it short, and never spin.
 * A pipe holds a number of *pieces*: from a real network each packet is one,
 * so a 1 MiB pipe may be full at a third of a MiB. Loopback coalesces them,
 * so the test makes a pipe of one page instead.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import net from "node:net";
import { setTimeout as delay } from "node:timers/promises";
import { nativeFs } from "../../src/blockdev/native.js";

const KiB = 1024;

/** A connected pair whose server end Node never reads (pauseOnConnect), and that end's descriptor. */
async function socketPair(): Promise<{ client: net.Socket; fd: number; close: () => void }> {
  const server = net.createServer({ pauseOnConnect: true });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const accepted = new Promise<net.Socket>((resolve) => server.once("connection", resolve));
  const client = net.connect((server.address() as net.AddressInfo).port, "127.0.0.1");
  const peer = await accepted;
  const fd = (peer as unknown as { _handle: { fd: number } })._handle.fd;
  return {
    client,
    fd,
    close: () => {
      client.destroy();
      peer.destroy();
      server.close();
    },
  };
}

function bytes(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + (i >> 9)) & 0xff;
  return b;
}

describe("spliceWhenArrived", () => {
  it("ends with what it moved when the pipe fills before all has come, instead of waiting on", async () => {
    const { client, fd, close } = await socketPair();
    const [readFd, writeFd] = nativeFs.makePipe(4096);
    try {
      const data = bytes(256 * KiB);
      client.write(data);
      await delay(50);
      const moved = await Promise.race([
        new Promise<number>((resolve) => nativeFs.spliceWhenArrived(fd, writeFd, data.length, resolve)),
        delay(5000).then(() => -1),
      ]);
      assert.ok(moved > 0 && moved < data.length, `moved ${moved} of ${data.length}`);
      const got = Buffer.alloc(moved);
      assert.equal(fs.readSync(readFd, got, 0, moved, null), moved);
      assert.ok(got.equals(data.subarray(0, moved)), "the pipe holds the first bytes, in order");
    } finally {
      fs.closeSync(readFd);
      fs.closeSync(writeFd);
      close();
    }
  });

  it("stopWaiting ends a wait at once, with what it moved, before it returns", async () => {
    const { client, fd, close } = await socketPair();
    const [readFd, writeFd] = nativeFs.makePipe(1024 * KiB);
    try {
      let moved = -1;
      const watch = nativeFs.spliceWhenArrived(fd, writeFd, 512 * KiB, (n) => (moved = n));
      client.write(bytes(1000));
      await delay(50);
      assert.equal(moved, -1, "still waiting for the rest");
      nativeFs.stopWaiting(watch);
      assert.equal(moved, 0, "ended, having moved nothing: the rest never came, and what came is the caller's to read");
      nativeFs.stopWaiting(watch); // a second stop is harmless
    } finally {
      fs.closeSync(readFd);
      fs.closeSync(writeFd);
      close();
    }
  });
});
