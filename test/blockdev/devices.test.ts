import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { FileDevice, MemoryDevice, ReadOnlyError, BlockDeviceError } from "../../src/blockdev/index.js";
import { blockDeviceConformance } from "./conformance.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lifeline-blockdev-"));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
let n = 0;

blockDeviceConformance("MemoryDevice", async (size) => new MemoryDevice(size));
blockDeviceConformance("FileDevice", async (size) => FileDevice.open(path.join(dir, `disk-${n++}.raw`), { sizeBytes: size }));

describe("FileDevice", () => {
  it("creates a sparse file of the asked size that uses no space", async () => {
    const file = path.join(dir, "sparse.raw");
    const dev = await FileDevice.open(file, { sizeBytes: 1 << 30 });
    assert.equal(dev.size, 1 << 30);
    assert.equal(fs.statSync(file).blocks, 0);
    await dev.close();
  });

  it("gives space back when a range is trimmed", async () => {
    const file = path.join(dir, "trim.raw");
    const dev = await FileDevice.open(file, { sizeBytes: 8 << 20 });
    await dev.write(0, Buffer.alloc(8 << 20, 7));
    await dev.flush();
    const before = fs.statSync(file).blocks;
    await dev.trim(0, 4 << 20);
    assert.ok(fs.statSync(file).blocks < before);
    await dev.close();
  });

  it("refuses writes when read-only, and a size that does not match", async () => {
    const file = path.join(dir, "ro.raw");
    await (await FileDevice.open(file, { sizeBytes: 65536 })).close();
    const dev = await FileDevice.open(file, { readOnly: true });
    await assert.rejects(dev.write(0, Buffer.alloc(1)), ReadOnlyError);
    await dev.close();
    await assert.rejects(FileDevice.open(file, { sizeBytes: 1 }), BlockDeviceError);
    await assert.rejects(FileDevice.open(path.join(dir, "missing.raw")), /does not exist/);
  });
});
