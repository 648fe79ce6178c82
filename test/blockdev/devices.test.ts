import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { FileDevice, MemoryDevice, ReadOnlyError, BlockDeviceError, SwitchDevice } from "../../src/blockdev/index.js";
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

blockDeviceConformance("SwitchDevice", async (size) => new SwitchDevice(new MemoryDevice(size)));

describe("SwitchDevice", () => {
  it("holds new requests, lets those in flight finish, switches, and tracks what was written", async () => {
    const a = new MemoryDevice(1 << 20);
    const b = new MemoryDevice(1 << 20);
    const dev = new SwitchDevice(a);
    dev.track(4096);
    await dev.write(5000, Buffer.alloc(10, 1));
    await dev.writeZeroes(65536, 8192);
    await dev.hold();
    let late = false;
    const pending = dev.write(0, Buffer.alloc(4, 9)).then(() => (late = true));
    await new Promise((r) => setTimeout(r, 10));
    assert.equal(late, false, "a request made while held waits");
    // The held write counts too: it will land once released.
    assert.deepEqual(dev.takeTracked(), [{ offset: 0, length: 8192 }, { offset: 65536, length: 8192 }]);
    assert.equal(dev.switchTo(b), a);
    dev.release();
    await pending;
    assert.deepEqual(await b.read(0, 4), Buffer.alloc(4, 9), "the held write ran on the new target");
    assert.deepEqual(await a.read(0, 4), Buffer.alloc(4), "and not on the old one");
    assert.throws(() => dev.switchTo(a), /held first/);
    assert.throws(() => new SwitchDevice(a).switchTo(new MemoryDevice(1)), /held first/);
  });
});
