/**
 * Big reads of a file go from the page cache to the socket by sendfile
 * (FileDevice.sendRange). What must hold whatever the socket does: every reply
 * whole and in one piece, the bytes those of the file, holes still shown as
 * holes, and replies that completed meanwhile neither lost nor interleaved,
 * including when the client stops reading and the socket fills up mid-reply.
 */
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { NbdServer, StaticExports, type Logger } from "../../src/nbd/index.js";
import { FileDevice } from "../../src/blockdev/index.js";
import { CHUNK, CMD, RawClient, assembleRead, pattern } from "./client.js";

const MiB = 1024 * 1024;
const SIZE = 64 * MiB;
/** Data everywhere but this hole. */
const HOLE = { offset: 40 * MiB, length: 2 * MiB };


describe("NBD server: big reads sent straight from the file", () => {
  let dir: string;
  let device: FileDevice;
  let server: NbdServer;
  let port: number;
  let content: Buffer;
  const warnings: string[] = [];
  const clients: RawClient[] = [];

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "lifeline-direct-read-"));
    device = await FileDevice.open(path.join(dir, "disk.raw"), { sizeBytes: SIZE });
    content = pattern(SIZE, 3);
    content.fill(0, HOLE.offset, HOLE.offset + HOLE.length);
    for (let at = 0; at < SIZE; at += 4 * MiB) await device.write(at, content.subarray(at, at + 4 * MiB));
    await device.trim(HOLE.offset, HOLE.length);
    const exports = new StaticExports();
    exports.add({ name: "disk", device });
    const logger: Logger = { debug() {}, info() {}, warn: (_o, m) => void warnings.push(m), error: (_o, m) => void warnings.push(m) };
    server = new NbdServer({ exports, logger });
    ({ port } = await server.listen(0));
  });

  after(async () => {
    for (const c of clients) c.close();
    await server.close();
    await device.close();
    fs.rmSync(dir, { recursive: true, force: true });
    assert.deepEqual(warnings, []);
  });

  const session = async (structured: boolean) => {
    const { client } = await RawClient.session(port, "disk", { structured });
    clients.push(client);
    return client;
  };

  it("simple and structured replies carry the file's bytes, aligned or not", async () => {
    for (const structured of [false, true]) {
      const c = await session(structured);
      for (const [offset, length] of [[0, MiB], [12_345, 3 * MiB + 7], [SIZE - 128 * 1024, 128 * 1024], [5 * MiB, 32 * MiB]] as const) {
        const got = await c.readBytes(offset, length);
        assert.ok(got.equals(content.subarray(offset, offset + length)), `${structured ? "structured" : "simple"} ${offset}+${length}`);
      }
    }
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
});
