import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { FileDevice, MemoryDevice } from "../../src/blockdev/index.js";
import { blockHashes, deviceBlockHashes, zeroBlocks } from "../../src/replication/block-hash.js";

const KiB = 1024;
const BLOCK = 64 * KiB;

/** Counts the bytes read through it, to show which blocks were read. */
class CountingDevice extends MemoryDevice {
  readBytes = 0;
  override async read(offset: number, length: number): Promise<Buffer> {
    this.readBytes += length;
    return super.read(offset, length);
  }
}

describe("block-hash", () => {
  it("hashes a sparse device as a full read would, reading only the blocks that hold data", async () => {
    const size = 5 * 1024 * KiB + 3 * 512; // a short last block
    const dev = new CountingDevice(size);
    await dev.write(BLOCK + 100, Buffer.alloc(10, 0x5a)); // block 1
    await dev.write(40 * BLOCK - 512, Buffer.alloc(1024, 0x11)); // the end of block 39 and the start of 40
    await dev.write(size - 512, Buffer.alloc(512, 0x77)); // the short last block
    const full = blockHashes(await dev.read(0, size), BLOCK);
    dev.readBytes = 0;
    assert.ok((await deviceBlockHashes(dev, 0, size, BLOCK)).equals(full));
    // Blocks 0-15, 32-47 and the last read (1 MiB reads around data), blocks 16-31 and 48-79 not.
    assert.equal(dev.readBytes, 2 * 1024 * KiB + (size - 80 * BLOCK));
    const zero = await zeroBlocks(dev, 0, size, BLOCK);
    assert.deepEqual(zero.map((z, i) => (z ? -1 : i)).filter((i) => i >= 0), [1, 39, 40, 80]);
  });

  it("a range of a file's holes hashes as zero blocks without reading", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lifeline-block-hash-"));
    const dev = await FileDevice.open(path.join(dir, "d.raw"), { sizeBytes: 64 * 1024 * KiB });
    try {
      await dev.write(32 * 1024 * KiB, Buffer.alloc(BLOCK, 1));
      const off = 16 * 1024 * KiB;
      const len = 32 * 1024 * KiB;
      assert.ok((await deviceBlockHashes(dev, off, len, BLOCK)).equals(blockHashes(await dev.read(off, len), BLOCK)));
    } finally {
      await dev.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
