/**
 * One suite every BlockDevice passes (as Litestream runs one suite against
 * every replica client). Call it with a factory for fresh devices.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { BlockDevice } from "../../src/blockdev/index.js";

export function blockDeviceConformance(name: string, make: (sizeBytes: number) => Promise<BlockDevice>): void {
  describe(`${name} conforms to BlockDevice`, () => {
    it("reads zeroes where nothing was written, and reports it as a hole", async () => {
      const dev = await make(1 << 20);
      assert.deepEqual(await dev.read(4096, 8192), Buffer.alloc(8192));
      const extents = await dev.extents(0, dev.size);
      assert.equal(extents.reduce((n, e) => n + e.length, 0), dev.size);
      assert.ok(extents.every((e) => e.zero && e.hole));
      await dev.close();
    });

    it("reads back what was written, aligned and not", async () => {
      const dev = await make(1 << 20);
      const a = Buffer.alloc(5000, 0xa1);
      const b = Buffer.alloc(100, 0xb2);
      await dev.write(1234, a);
      await dev.write(4000, b);
      const got = await dev.read(1000, 6000);
      const want = Buffer.alloc(6000);
      a.copy(want, 234);
      b.copy(want, 3000);
      assert.deepEqual(got, want);
      await dev.flush();
      await dev.close();
    });

    it("zeroes and trims ranges, and reports the data that is left", async () => {
      const dev = await make(4 << 20);
      await dev.write(0, Buffer.alloc(2 << 20, 0x55));
      await dev.writeZeroes(1 << 20, 1 << 20);
      assert.deepEqual(await dev.read((1 << 20) - 1, 2), Buffer.from([0x55, 0]));
      await dev.trim(0, 64 * 1024);
      const [first] = await dev.extents(0, 64 * 1024);
      assert.ok(first && first.zero, "a trimmed range reads as zeroes");
      assert.deepEqual(await dev.read(0, 64 * 1024), Buffer.alloc(64 * 1024));
      const extents = await dev.extents(0, dev.size);
      assert.equal(extents.reduce((n, e) => n + e.length, 0), dev.size);
      const data = extents.filter((e) => !e.zero).reduce((n, e) => n + e.length, 0);
      assert.ok(data >= (1 << 20) - 64 * 1024, "the written data is reported as data");
      await dev.close();
    });

    it("writes with FUA and flushes", async () => {
      const dev = await make(1 << 20);
      await Promise.all([dev.write(0, Buffer.alloc(512, 1), true), dev.flush(), dev.flush(), dev.write(512, Buffer.alloc(512, 2))]);
      await dev.flush();
      assert.deepEqual(await dev.read(0, 1024), Buffer.concat([Buffer.alloc(512, 1), Buffer.alloc(512, 2)]));
      await dev.close();
    });
  });
}
