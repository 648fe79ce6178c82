/**
 * Delta sync, when the recovery site already holds a copy of the disks (pre-
 * seeded, or the old production disk at failback): before the bitmap sync,
 * both sides hash fixed blocks and only the blocks that differ stay dirty.
 *
 * It runs on a fresh connection, after HELLO and before any record is sent,
 * so the recovery site's newest point does not move while it hashes. Writes
 * keep landing at the source meanwhile (the group is tracking): each range is
 * compared under the range lock, and its dirty bits are cleared in the same
 * turn as the lock is taken, so a write admitted later marks its block again
 * and is never lost to a stale "equal".
 *
 * Blocks that read as zeroes here (holes of a sparse disk) are not read: the
 * store's extents say so and their hash is the zero block's (block-hash.ts);
 * the recovery site does the same with its view's holes, so a big sparse disk
 * costs what it holds, not its size.
 */
import { blockHash, zeroBlockHash, zeroBlocks } from "./block-hash.js";
import { ProtocolError } from "./errors.js";
import type { HashesFrame } from "./frames.js";
import { HASH_BYTES } from "./frames.js";
import { encodeFrame } from "./frame-codec.js";
import { formatBytes } from "./group-state.js";
import type { FrameLink } from "./link.js";
import type { DiskState, ProtectedGroup } from "./protected-group.js";

/** Bytes a HASH_REQUEST covers: 1024 hashes of 64 KiB blocks, 16 KiB of answer. */
const RANGE_BYTES = 64 * 1024 * 1024;
const PIECE_BYTES = 1024 * 1024;
const OUTSTANDING = 4;

export interface DeltaResult {
  comparedBytes: number;
  differingBytes: number;
}

export async function runDeltaSync(group: ProtectedGroup, disks: DiskState[], link: FrameLink, timeoutMs: number): Promise<DeltaResult> {
  const waiting = new Map<string, (f: HashesFrame) => void>();
  link.onFrame((f) => {
    if (f.type !== "hashes") throw new ProtocolError(`expected HASHES during a delta sync, got ${f.type}`);
    const key = `${f.disk}:${f.offset}`;
    const w = waiting.get(key);
    if (!w) throw new ProtocolError(`HASHES for ${key}, which was not asked for`);
    waiting.delete(key);
    w(f);
  });
  const result: DeltaResult = { comparedBytes: 0, differingBytes: 0 };
  for (const disk of disks) {
    const ranges: number[] = [];
    for (let o = 0; o < disk.spec.sizeBytes; o += RANGE_BYTES) ranges.push(o);
    const ask = (offset: number): Promise<HashesFrame> => {
      const length = Math.min(RANGE_BYTES, disk.spec.sizeBytes - offset);
      let timer: NodeJS.Timeout | undefined;
      const p = new Promise<HashesFrame>((resolve, reject) => {
        waiting.set(`${disk.index}:${offset}`, resolve);
        timer = setTimeout(() => reject(new ProtocolError(`no HASHES for ${disk.spec.name} at ${offset} in ${timeoutMs} ms`)), timeoutMs);
        void link.closed.then(reject);
      });
      const clear = () => clearTimeout(timer);
      void p.then(clear, clear);
      link.send(encodeFrame({ type: "hash-request", disk: disk.index, offset, length, blockBytes: disk.bitmap.blockBytes }).frame);
      return p;
    };
    const pending = ranges.slice(0, OUTSTANDING).map(ask);
    for (let i = 0; i < ranges.length; i++) {
      const theirs = await pending[i]!;
      if (i + OUTSTANDING < ranges.length) pending.push(ask(ranges[i + OUTSTANDING]!));
      await compareRange(disk, ranges[i]!, theirs.hashes, result);
    }
  }
  group.events.emit({
    type: "delta",
    comparedBytes: result.comparedBytes,
    differingBytes: result.differingBytes,
    message: `delta sync compared ${formatBytes(result.comparedBytes)}; ${formatBytes(result.differingBytes)} differ and will be sent`,
  });
  return result;
}

async function compareRange(disk: DiskState, offset: number, theirs: Buffer, result: DeltaResult): Promise<void> {
  const bb = disk.bitmap.blockBytes;
  const end = Math.min(disk.spec.sizeBytes, offset + (theirs.length / HASH_BYTES) * bb);
  for (let at = offset; at < end; at += PIECE_BYTES) {
    const length = Math.min(PIECE_BYTES, end - at);
    if (!disk.bitmap.anyDirty(at, length)) continue;
    const lock = disk.lock.acquire(at, length);
    const dirty: number[] = [];
    for (let b = at / bb; b * bb < at + length; b++) {
      if (disk.bitmap.isDirty(b)) {
        dirty.push(b);
        disk.bitmap.clearBlock(b);
      }
    }
    try {
      if (lock.wait) await lock.wait;
      const zero = await zeroBlocks(disk.store, at, length, bb);
      const data = dirty.every((b) => zero[b - at / bb]) ? undefined : await disk.store.read(at, length);
      for (const b of dirty) {
        const { offset: o, length: n } = disk.bitmap.range(b);
        const mine = zero[b - at / bb] || !data ? zeroBlockHash(n) : blockHash(data.subarray(o - at, o - at + n));
        const i = (o - offset) / bb;
        result.comparedBytes += n;
        if (!mine.equals(theirs.subarray(i * HASH_BYTES, (i + 1) * HASH_BYTES))) {
          disk.bitmap.markBlock(b);
          result.differingBytes += n;
        }
      }
    } catch (err) {
      for (const b of dirty) disk.bitmap.markBlock(b);
      throw err;
    } finally {
      disk.lock.release(lock.held);
    }
  }
}
