/**
 * journal-cli: inspect, verify, export and serve on a real journal directory,
 * each run as its own process; serve is read with nbdcopy and qemu-img
 * against the model's image.
 */
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { Journal } from "../../src/journal/index.js";
import { requireTool } from "../e2e/harness.js";
import { DiskModel, pattern, tempDir } from "./helpers.js";

const root = tempDir("journal-cli");
after(() => fs.rmSync(root, { recursive: true, force: true }));
const driver = path.join(path.dirname(fileURLToPath(import.meta.url)), "cli-driver.js");
const run = promisify(execFile);
const lifeline = (...args: string[]) => run(process.execPath, [driver, "--run", "journal", ...args]);
const SIZE = 8 * 1024 * 1024;
const dir = path.join(root, "g");
const model = new DiskModel(new Map([["vm/a", SIZE], ["vm/b", SIZE]]));

before(async () => {
  const j = await Journal.create(dir, { disks: [{ name: "vm/a", sizeBytes: SIZE }, { name: "vm/b", sizeBytes: SIZE }], segmentBytes: 64 * 1024 });
  for (let seq = 1; seq <= 60; seq++) {
    if (seq % 10 === 0) {
      await j.append({ type: "checkpoint", seq, timeMs: seq * 1000, id: `c${seq / 10}`, ...(seq === 30 ? { tag: "before-upgrade" } : {}) });
      model.ops.push({ seq, kind: "checkpoint" });
      continue;
    }
    const disk = seq % 2 ? "vm/a" : "vm/b";
    const data = pattern(3000 + seq * 17, seq);
    const offset = (seq * 104_729) % (SIZE - data.length);
    await j.append({ type: "write", seq, timeMs: seq * 1000, disk, offset, data });
    model.ops.push({ seq, kind: "write", disk, offset, data });
  }
  await j.pin(20, "test-7", "test");
  await j.close();
});

describe("lifeline journal", () => {
  it("inspect shows seqs, checkpoints, segments and pins", async () => {
    const { stdout } = await lifeline("inspect", dir, "--json");
    const r = JSON.parse(stdout) as { lastSeq: number; checkpointCount: number; pins: { seq: number }[]; segments: unknown[] };
    assert.equal(r.lastSeq, 60);
    assert.equal(r.checkpointCount, 6);
    assert.equal(r.pins[0]?.seq, 20);
    assert.ok(r.segments.length > 1);
    const human = await lifeline("inspect", dir);
    assert.match(human.stdout, /tag before-upgrade/);
  });

  it("verify passes, and fails naming the place of a fault", async () => {
    assert.match((await lifeline("verify", dir)).stdout, /ok/);
    const broken = path.join(root, "broken");
    fs.cpSync(dir, broken, { recursive: true });
    const seg = fs.readdirSync(path.join(broken, "journal")).filter((n) => n.endsWith(".seg")).sort()[0]!;
    const fd = fs.openSync(path.join(broken, "journal", seg), "r+");
    fs.writeSync(fd, Buffer.from([0x5a]), 0, 1, 32 + 48 + 100);
    fs.closeSync(fd);
    await assert.rejects(lifeline("verify", broken), (err: { code: number; stdout: string }) => err.code === 1 && err.stdout.includes(`FAULT in ${seg} at offset 32`));
  });

  it("export writes the image at a checkpoint, sparse", async () => {
    const out = path.join(root, "a.raw");
    await lifeline("export", dir, "--disk", "vm/a", "--checkpoint", "c3", "--out", out);
    assert.ok(fs.readFileSync(out).equals(model.image("vm/a", 30)));
    assert.ok(fs.statSync(out).blocks * 512 < SIZE / 2, "holes stay holes");
    await lifeline("export", dir, "--disk", "vm/b", "--seq", "47", "--out", out, "--force");
    assert.ok(fs.readFileSync(out).equals(model.image("vm/b", 47)));
    await assert.rejects(lifeline("export", dir, "--disk", "vm/b", "--seq", "1", "--ago", "3s", "--out", out), /exactly one/);
  });

  it("serve offers <disk>@<seq|checkpoint> to nbdcopy and qemu-img", async () => {
    requireTool("nbdcopy");
    requireTool("qemu-img");
    const server = spawn(process.execPath, [driver, "--run", "journal", "serve", dir, "--port", "0"], { stdio: ["ignore", "pipe", "pipe"] });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let text = "";
        server.stdout.on("data", (c: Buffer) => {
          text += c.toString();
          const m = /nbd:\/\/([\d.]+):(\d+)\//.exec(text);
          if (m) resolve(`nbd://${m[1]}:${m[2]}`);
        });
        server.on("exit", (code) => reject(new Error(`serve exited with ${code}`)));
      });
      const expected = path.join(root, "expected-b.raw");
      fs.writeFileSync(expected, model.image("vm/b", 40));
      const copy = path.join(root, "copy-b.raw");
      await run("nbdcopy", [`${url}/vm/b@c4`, copy]);
      assert.ok(fs.readFileSync(copy).equals(model.image("vm/b", 40)));
      await run("qemu-img", ["compare", "-f", "raw", "-F", "raw", expected, `${url}/vm/b@40`]);
      fs.writeFileSync(expected, model.image("vm/a", 33));
      await run("qemu-img", ["compare", "-f", "raw", "-F", "raw", expected, `${url}/vm/a@33`]);
    } finally {
      server.kill("SIGTERM");
    }
  });
  it("serve sees records and checkpoints appended after it started", async () => {
    requireTool("nbdcopy");
    const live = path.join(root, "live");
    const liveModel = new DiskModel(new Map([["vm/a", SIZE]]));
    const w = await Journal.create(live, { disks: [{ name: "vm/a", sizeBytes: SIZE }] });
    const append = async (from: number, to: number) => {
      for (let seq = from; seq <= to; seq++) {
        if (seq % 10 === 0) {
          await w.append({ type: "checkpoint", seq, timeMs: Date.now(), id: `live${seq / 10}` });
          liveModel.ops.push({ seq, kind: "checkpoint" });
          continue;
        }
        const data = pattern(4096 + seq * 13, seq);
        const offset = (seq * 65_537) % (SIZE - data.length);
        await w.append({ type: "write", seq, timeMs: Date.now(), disk: "vm/a", offset, data });
        liveModel.ops.push({ seq, kind: "write", disk: "vm/a", offset, data });
      }
    };
    await append(1, 10);
    const server = spawn(process.execPath, [driver, "--run", "journal", "serve", live, "--port", "0"], { stdio: ["ignore", "pipe", "pipe"] });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let text = "";
        server.stdout.on("data", (c: Buffer) => {
          text += c.toString();
          const m = /nbd:\/\/([\d.]+):(\d+)\//.exec(text);
          if (m) resolve(`nbd://${m[1]}:${m[2]}`);
        });
        server.on("exit", (code) => reject(new Error(`serve exited with ${code}`)));
      });
      const copy = path.join(root, "copy-live.raw");
      await run("nbdcopy", [`${url}/vm/a@live1`, copy]);
      assert.ok(fs.readFileSync(copy).equals(liveModel.image("vm/a", 10)));
      // The writer goes on while the server runs: new seqs and checkpoints open, old ones still do.
      await append(11, 25);
      await run("nbdcopy", [`${url}/vm/a@live2`, copy]);
      assert.ok(fs.readFileSync(copy).equals(liveModel.image("vm/a", 20)));
      await run("nbdcopy", [`${url}/vm/a@25`, copy]);
      assert.ok(fs.readFileSync(copy).equals(liveModel.image("vm/a", 25)));
      await run("nbdcopy", [`${url}/vm/a`, copy]);
      assert.ok(fs.readFileSync(copy).equals(liveModel.image("vm/a", 25)), "a bare disk name is the newest seq");
      await run("nbdcopy", [`${url}/vm/a@live1`, copy]);
      assert.ok(fs.readFileSync(copy).equals(liveModel.image("vm/a", 10)));
    } finally {
      server.kill("SIGTERM");
      await w.close();
    }
  });
});
