/**
 * Big reads of a file go from the page cache to the socket by sendfile
 * (FileDevice.sendRange), and big writes' data from the socket to the file by
 * splice (FileDevice.receiveRange). What must hold whatever the socket does:
 * every reply whole and in one piece, the bytes those of the file, holes still
 * shown as holes, replies that completed meanwhile neither lost nor
 * interleaved (also when the client stops reading and the socket fills up
 * mid-reply), a write's data whole wherever it was cut in transit, and
 * nothing written out of range or to a read-only export.
 */
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import fc from "fast-check";
import { NbdServer, StaticExports, type Logger } from "../../src/nbd/index.js";
import { FileDevice } from "../../src/blockdev/index.js";
import { CHUNK, CMD, CMDFLAG, E, RawClient, assembleRead, encodeRequest, pattern } from "./client.js";

const MiB = 1024 * 1024;
const SIZE = 64 * MiB;
/** Data everywhere but this hole. */
const HOLE = { offset: 40 * MiB, length: 2 * MiB };


describe("NBD server: big reads and writes straight between file and socket", () => {
  let dir: string;
  let device: FileDevice;
  let readOnly: FileDevice;
  let server: NbdServer;
  let port: number;
  let content: Buffer;
  const warnings: string[] = [];
  /** Bytes that went by sendfile and by splice, to show the fast paths ran. */
  const direct = { sent: 0, taken: 0 };
  const clients: RawClient[] = [];

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "lifeline-direct-read-"));
    device = await FileDevice.open(path.join(dir, "disk.raw"), { sizeBytes: SIZE });
    content = pattern(SIZE, 3);
    content.fill(0, HOLE.offset, HOLE.offset + HOLE.length);
    for (let at = 0; at < SIZE; at += 4 * MiB) await device.write(at, content.subarray(at, at + 4 * MiB));
    await device.trim(HOLE.offset, HOLE.length);
    const sendRange = device.sendRange.bind(device);
    device.sendRange = async (...args) => {
      const sent = await sendRange(...args);
      if (sent !== "hole") direct.sent += sent;
      return sent;
    };
    const receiveRange = device.receiveRange.bind(device);
    device.receiveRange = (...args) => {
      const receipt = receiveRange(...args);
      if (receipt) {
        const land = receipt.land;
        receipt.land = () => {
          direct.taken += receipt.taken;
          return land();
        };
      }
      return receipt;
    };
    readOnly = await FileDevice.open(path.join(dir, "disk.raw"), { readOnly: true });
    const exports = new StaticExports();
    exports.add({ name: "disk", device });
    exports.add({ name: "ro", device: readOnly });
    const logger: Logger = { debug() {}, info() {}, warn: (_o, m) => void warnings.push(m), error: (_o, m) => void warnings.push(m) };
    server = new NbdServer({ exports, logger });
    ({ port } = await server.listen(0));
  });

  after(async () => {
    for (const c of clients) c.close();
    await server.close();
    await device.close();
    await readOnly.close();
    fs.rmSync(dir, { recursive: true, force: true });
    assert.deepEqual(warnings, []);
  });

  const session = async (structured: boolean, name = "disk") => {
    const { client } = await RawClient.session(port, name, { structured });
    clients.push(client);
    return client;
  };

  it("simple and structured replies carry the file's bytes, aligned or not", async () => {
    const before = direct.sent;
    for (const structured of [false, true]) {
      const c = await session(structured);
      for (const [offset, length] of [[0, MiB], [12_345, 3 * MiB + 7], [SIZE - 128 * 1024, 128 * 1024], [5 * MiB, 32 * MiB]] as const) {
        const got = await c.readBytes(offset, length);
        assert.ok(got.equals(content.subarray(offset, offset + length)), `${structured ? "structured" : "simple"} ${offset}+${length}`);
      }
    }
    assert.ok(direct.sent - before > 8 * MiB, `only ${direct.sent - before} bytes went by sendfile`);
  });

  it("a structured read over a hole still shows the hole as a chunk", async () => {
    const c = await session(true);
    const offset = HOLE.offset - MiB;
    const r = await c.readCmd(offset, 4 * MiB);
    assert.equal(r.errno, 0);
    assert.deepEqual(r.chunks.map((x) => [x.type, x.offset]), [
      [CHUNK.OFFSET_DATA, offset],
      [CHUNK.OFFSET_HOLE, HOLE.offset],
      [CHUNK.OFFSET_DATA, HOLE.offset + HOLE.length],
    ]);
    assert.ok(assembleRead(r, offset, 4 * MiB).equals(content.subarray(offset, offset + 4 * MiB)));
  });

  it("a client that stops reading: replies resume where the socket filled up, and small replies are not lost or mixed in", async () => {
    for (const structured of [false, true]) {
      const c = await session(structured);
      c.socket.pause();
      const replies: Array<Promise<{ offset: number; length: number; data: Buffer }>> = [];
      for (let i = 0; i < 48; i++) {
        // Big reads, with small reads and writes between them whose replies complete while a big one is being sent.
        const offset = (i * 7 * MiB + i * 4097) % (SIZE - 2 * MiB);
        const length = i % 3 === 2 ? 4096 : MiB + (i % 5) * 1000;
        replies.push(c.readBytes(offset, length).then((data) => ({ offset, length, data })));
        if (i % 4 === 0) {
          const at = SIZE - MiB + i * 4096;
          const data = content.subarray(at, at + 4096);
          replies.push(c.writeBytes(at, data).then(() => ({ offset: at, length: 4096, data })));
        }
      }
      // Long enough for the server to fill its socket and be left holding the rest.
      await delay(300);
      c.socket.resume();
      for (const r of await Promise.all(replies)) {
        assert.ok(r.data.equals(content.subarray(r.offset, r.offset + r.length)), `${r.offset}+${r.length}`);
      }
      assert.equal(c.inFlight, 0);
      assert.equal((await c.request({ type: CMD.FLUSH })).errno, 0);
      assert.equal(c.bufferedBytes, 0, "nothing stray after the replies");
    }
  });

  it("a client that hangs up in the middle of big reads harms nobody else", async () => {
    const gone = await session(true);
    gone.socket.pause();
    const lost = Array.from({ length: 16 }, (_, i) => gone.readBytes(i * MiB, MiB).catch(() => null));
    await delay(50);
    gone.socket.destroy();
    await Promise.all(lost);
    const c = await session(true);
    assert.ok((await c.readBytes(3 * MiB, 2 * MiB)).equals(content.subarray(3 * MiB, 5 * MiB)));
  });

  /** Writes `data` at `offset` on `c` and on our copy of the content. */
  const writeBoth = async (c: RawClient, offset: number, data: Buffer, flags = 0) => {
    await c.writeBytes(offset, data, flags);
    data.copy(content, offset);
  };

  it("big writes, one after another and many at once, land whole; the data after the first ones comes by splice", async () => {
    const c = await session(true);
    const before = direct.taken;
    for (let i = 0; i < 8; i++) await writeBoth(c, i * MiB + 3 * i, pattern(MiB - i * 4096, 100 + i));
    const batch = Array.from({ length: 24 }, (_, i) => [10 * MiB + i * (MiB + 512), pattern(i % 2 ? 512 * 1024 : MiB, 200 + i)] as const);
    await Promise.all(batch.map(([offset, data]) => c.writeBytes(offset, data)));
    for (const [offset, data] of batch) data.copy(content, offset);
    // Bigger than a pipe, with FUA: the usual way.
    await writeBoth(c, 44 * MiB, pattern(3 * MiB, 300), CMDFLAG.FUA);
    await writeBoth(c, 50 * MiB, pattern(MiB, 301), CMDFLAG.FUA);
    assert.ok(direct.taken - before > 16 * MiB, `only ${direct.taken - before} bytes came by splice`);
    for (let at = 0; at < 56 * MiB; at += 8 * MiB) assert.ok((await c.readBytes(at, 8 * MiB)).equals(content.subarray(at, at + 8 * MiB)), `at ${at}`);
    assert.ok(fs.readFileSync(path.join(dir, "disk.raw")).equals(content), "the file holds what was written");
  });

  it("a big write whose data arrives in pieces, after a pause, lands whole", async () => {
    const c = await session(false);
    await writeBoth(c, 20 * MiB, pattern(MiB, 400)); // the next header is then read alone
    for (const cut of [0, 1, 4096, 300_000, MiB - 1]) {
      const offset = 30 * MiB + cut;
      const data = pattern(MiB, 500 + cut);
      const bytes = encodeRequest({ type: CMD.WRITE, cookie: 77n, offset, data });
      const reply = c.expect(77n, CMD.WRITE, MiB);
      c.write(bytes.subarray(0, 28 + cut));
      await delay(30);
      c.write(bytes.subarray(28 + cut));
      assert.equal((await reply).errno, 0);
      data.copy(content, offset);
      assert.ok((await c.readBytes(offset, MiB)).equals(data), `cut at ${cut}`);
    }
  });

  it("a big write whose data arrives in packets of a real network's size lands whole (a pipe fills by pieces, not bytes)", async () => {
    const c = await session(false);
    c.socket.setNoDelay(true);
    await writeBoth(c, 20 * MiB, pattern(MiB, 450)); // the next header is then read alone
    const offset = 31 * MiB + 512;
    const data = pattern(MiB, 451);
    const bytes = encodeRequest({ type: CMD.WRITE, cookie: 76n, offset, data });
    const reply = c.expect(76n, CMD.WRITE, MiB);
    c.write(bytes.subarray(0, 28 + 1448));
    await delay(20);
    // One segment a turn: each one is its own piece in the pipe, as from a NIC with a 1500-byte MTU.
    for (let at = 28 + 1448; at < bytes.length; at += 1448) {
      c.write(bytes.subarray(at, Math.min(bytes.length, at + 1448)));
      await new Promise((resolve) => setImmediate(resolve));
    }
    assert.equal((await reply).errno, 0);
    data.copy(content, offset);
    assert.ok((await c.readBytes(offset, MiB)).equals(data));
  });

  it("big writes whose bytes arrive cut anywhere, between small requests, land exactly (property)", async () => {
    const c = await session(true);
    c.socket.setNoDelay(true);
    const region = { offset: 48 * MiB, length: 8 * MiB };
    const op = fc.oneof(
      fc.record({ kind: fc.constant("big" as const), at: fc.integer({ min: 0, max: region.length - MiB }), length: fc.integer({ min: 256 * 1024, max: MiB }), cuts: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 6 }), pauseMs: fc.integer({ min: 0, max: 3 }) }),
      fc.record({ kind: fc.constant("small" as const), at: fc.integer({ min: 0, max: region.length - 8192 }), length: fc.integer({ min: 1, max: 8192 }) }),
    );
    let cookie = 1000n;
    const run = async (ops: Array<{ kind: "big"; at: number; length: number; cuts: number[]; pauseMs: number } | { kind: "small"; at: number; length: number }>) => {
      const replies: Array<Promise<{ errno: number }>> = [];
      const inFlight: Array<{ offset: number; end: number; reply: Promise<unknown> }> = [];
      for (const o of ops) {
        const offset = region.offset + o.at;
        // Writes in flight at once may land in any order (NBD): one that overlaps waits for those before it.
        for (const f of inFlight) if (f.offset < offset + o.length && offset < f.end) await f.reply;
        const data = pattern(o.length, Number(cookie % 251n));
        const bytes = encodeRequest({ type: CMD.WRITE, cookie: ++cookie, offset, data });
        const reply = c.expect(cookie, CMD.WRITE, o.length);
        replies.push(reply);
        inFlight.push({ offset, end: offset + o.length, reply });
        data.copy(content, offset);
        if (o.kind === "small") {
          c.write(bytes);
          continue;
        }
        // The header and the data in pieces, with pauses between, as a slow or busy network delivers them.
        const points = [...new Set(o.cuts.map((f) => Math.floor(f * bytes.length)))].filter((p) => p > 0 && p < bytes.length).sort((a, b) => a - b);
        let from = 0;
        for (const p of [...points, bytes.length]) {
          c.write(bytes.subarray(from, p));
          from = p;
          if (p < bytes.length) await delay(o.pauseMs);
        }
      }
      for (const r of await Promise.all(replies)) assert.equal(r.errno, 0);
      const got = await c.readBytes(region.offset, region.length);
      assert.ok(got.equals(content.subarray(region.offset, region.offset + region.length)), "the region holds every write, in order");
    };
    await fc.assert(fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 12 }), run), {
      seed: 20261204,
      numRuns: Number(process.env.DIRECT_RUNS ?? 40),
      reporter: (out) => {
        if (out.failed) throw new Error(`direct writes property failed (seed 20261204)\n${fc.defaultReportMessage(out)}\n${String(out.errorInstance)}`);
      },
    });
  });

  it("a client that hangs up in the middle of a big write's data harms nobody else", async () => {
    const c = await session(true);
    await writeBoth(c, 20 * MiB, pattern(MiB, 700));
    const bytes = encodeRequest({ type: CMD.WRITE, cookie: 78n, offset: 21 * MiB, data: pattern(MiB, 701) });
    void c.expect(78n, CMD.WRITE, MiB).catch(() => {});
    c.write(bytes.subarray(0, 28 + 100_000));
    await delay(30);
    c.socket.destroy();
    const other = await session(true);
    assert.ok((await other.readBytes(20 * MiB, MiB)).equals(content.subarray(20 * MiB, 21 * MiB)));
  });

  it("server.close() ends a connection that waits for the rest of a big write's data", async () => {
    const exports = new StaticExports();
    exports.add({ name: "disk", device });
    const own = new NbdServer({ exports, logger: { debug() {}, info() {}, warn() {}, error() {} } });
    const { port: ownPort } = await own.listen(0);
    const { client: c } = await RawClient.session(ownPort, "disk");
    clients.push(c);
    await c.writeBytes(22 * MiB, pattern(MiB, 800));
    pattern(MiB, 800).copy(content, 22 * MiB);
    const bytes = encodeRequest({ type: CMD.WRITE, cookie: 79n, offset: 23 * MiB, data: pattern(MiB, 801) });
    void c.expect(79n, CMD.WRITE, MiB).catch(() => {});
    c.write(bytes.subarray(0, 28 + 200_000));
    await delay(30);
    await own.close();
    await c.closed;
    // The write was never answered, so none of it was written.
    const fd = fs.openSync(path.join(dir, "disk.raw"), "r");
    const held = Buffer.alloc(MiB);
    fs.readSync(fd, held, 0, MiB, 23 * MiB);
    fs.closeSync(fd);
    assert.ok(held.equals(content.subarray(23 * MiB, 24 * MiB)));
  });

  it("a big write past the end or to a read-only export lands nowhere, and the connection goes on", async () => {
    const c = await session(true);
    await writeBoth(c, 0, pattern(MiB, 600));
    const past = await c.request({ type: CMD.WRITE, offset: SIZE - MiB / 2, data: pattern(MiB, 601) });
    assert.equal(past.errno, E.ENOSPC);
    assert.equal(fs.statSync(path.join(dir, "disk.raw")).size, SIZE);
    const ro = await session(true, "ro");
    assert.equal((await ro.request({ type: CMD.WRITE, offset: 0, data: pattern(MiB, 602) })).errno, E.EPERM);
    const refused = await ro.request({ type: CMD.WRITE, offset: MiB, data: pattern(MiB, 604) });
    assert.equal(refused.errno, E.EPERM);
    assert.ok((await c.readBytes(0, 2 * MiB)).equals(content.subarray(0, 2 * MiB)));
  });
});
