/**
 * Delta sync on a sparse disk, one side's work: hashing a 4 GiB sparse file
 * holding 40 MiB of data (1%, in 64 KiB blocks spread over the disk) in the
 * delta sync's 64 MiB ranges of 64 KiB blocks, as it was done before (read
 * everything, hash everything) and as it is done now (holes neither read nor
 * hashed; block-hash.ts). Both sides of a delta sync do this work.
 *
 *   node dist/bench/delta-sparse.js [--rounds 3]
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { FileDevice } from "../src/blockdev/index.js";
import { blockHashes, deviceBlockHashes } from "../src/replication/block-hash.js";
import { median, printTable, writeResults } from "./common.js";

const args = process.argv.slice(2);
const ROUNDS = Number(args[args.indexOf("--rounds") + 1] ?? 3) || 3;
const GiB = 1024 ** 3;
const SIZE = 4 * GiB;
const BLOCK = 64 * 1024;
const RANGE = 64 * 1024 * 1024;
const DATA_BLOCKS = 640; // 40 MiB

async function hashAll(dev: FileDevice, sparseAware: boolean): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for (let off = 0; off < SIZE; off += RANGE) {
    if (sparseAware) out.push(await deviceBlockHashes(dev, off, RANGE, BLOCK));
    else for (let at = off; at < off + RANGE; at += 16 * BLOCK) out.push(blockHashes(await dev.read(at, 16 * BLOCK), BLOCK));
  }
  return out;
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lifeline-delta-sparse-"));
const dev = await FileDevice.open(path.join(dir, "disk.raw"), { sizeBytes: SIZE });
try {
  const stride = SIZE / BLOCK / DATA_BLOCKS;
  for (let i = 0; i < DATA_BLOCKS; i++) await dev.write(i * stride * BLOCK, Buffer.alloc(BLOCK, (i % 255) + 1));
  await dev.flush();
  const same = Buffer.concat(await hashAll(dev, false)).equals(Buffer.concat(await hashAll(dev, true)));
  if (!same) throw new Error("the two ways of hashing disagree");
  const before: number[] = [];
  const after: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    // Alternately, so that a busy neighbour on the shared machine weighs on both.
    let t = performance.now();
    await hashAll(dev, false);
    before.push(performance.now() - t);
    t = performance.now();
    await hashAll(dev, true);
    after.push(performance.now() - t);
  }
  const b = median(before);
  const a = median(after);
  printTable(["measure", "read and hash all (before)", "skip holes (after)"], [
    ["hash a 4 GiB sparse disk with 40 MiB of data, median of " + ROUNDS, `${(b / 1000).toFixed(2)} s`, `${(a / 1000).toFixed(3)} s (${(b / a).toFixed(0)}× faster)`],
  ]);
  writeResults("delta-sparse", { sizeBytes: SIZE, dataBytes: DATA_BLOCKS * BLOCK, rounds: ROUNDS, beforeMs: before, afterMs: after, medianBeforeMs: b, medianAfterMs: a });
} finally {
  await dev.close();
  fs.rmSync(dir, { recursive: true, force: true });
}
