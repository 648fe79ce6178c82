/**
 * A journal lets go of its files whatever happens: an open that fails (a
 * damaged journal, a full disk) leaves nothing open, and a close whose last
 * writes fail still closes everything. The receiver closes and reopens a
 * journal until the disk has room again; a torture run found that every such
 * round kept descriptors of segments that promotion later deleted, so the
 * space never came back and the group stayed paused.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { Journal } from "../../src/journal/index.js";
import { tempDir } from "./helpers.js";

const openFiles = (dir: string): number => fs.readdirSync("/proc/self/fd").filter((fd) => {
  try {
    return fs.readlinkSync(`/proc/self/fd/${fd}`).startsWith(dir);
  } catch {
    return false;
  }
}).length;

async function journalWithSegments(): Promise<{ dir: string; names: string[] }> {
  const dir = tempDir("journal-files");
  const j = await Journal.create(dir, { disks: [{ name: "vm/a", sizeBytes: 1 << 20 }], segmentBytes: 16 * 1024 });
  for (let seq = 1; seq <= 30; seq++) await j.append({ type: "write", seq, timeMs: seq, disk: "vm/a", offset: (seq % 16) * 4096, data: Buffer.alloc(4096, seq) });
  const names = j.segments.map((s) => s.name);
  await j.close({ snapshot: false });
  return { dir, names };
}

describe("journal files", () => {
  it("an open that fails leaves no file open", async () => {
    const { dir, names } = await journalWithSegments();
    assert.ok(names.length >= 3);
    fs.rmSync(path.join(dir, "journal", names[1]!));
    for (let i = 0; i < 5; i++) await assert.rejects(Journal.open(dir));
    assert.equal(openFiles(dir), 0);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("a close whose durable mark cannot be written still closes every file", async () => {
    const { dir } = await journalWithSegments();
    const j = await Journal.open(dir, { durableMarkEveryMs: 0 });
    await j.append({ type: "write", seq: j.lastSeq + 1, timeMs: 99, disk: "vm/a", offset: 0, data: Buffer.alloc(4096, 7) });
    assert.ok(openFiles(dir) > 0);
    // The mark is replaced by rename: a directory in its place makes the write fail, as a full disk would.
    const mark = path.join(dir, "journal", "durable.mark");
    fs.rmSync(mark, { force: true });
    fs.mkdirSync(path.join(mark, "in-the-way"), { recursive: true });
    await assert.rejects(j.close());
    assert.equal(openFiles(dir), 0);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
