/**
 * A writable copy-on-write layer over any BlockDevice (a PIT view, for test
 * and live failover). Writes go to a sparse scratch file, in blocks (64 KiB
 * by default, as nbdkit's cow filter does): a block written in part is first
 * filled from the lower device. Reads come from the scratch file where a
 * block was written, as zeroes where it was zeroed, else from below. The lower
 * device is never written; discarding the overlay leaves it as it was.
 *
 * Durability: flush syncs the scratch file first, then the allocation map
 * (alloc-map.ts), so a block the map names after a crash holds its data.
 */
import fs from "node:fs/promises";
import { type BlockDevice, type Extent, FileDevice, type ZeroOptions, pushExtent } from "../blockdev/index.js";
import { AllocMap, BlockState } from "./alloc-map.js";
import { sliceExtents } from "./pit-view.js";

export interface OverlayOptions {
  blockBytes?: number;
}

export class Overlay implements BlockDevice {
  readonly size: number;
  readonly readOnly = false;
  readonly blockBytes: number;
  readonly #lower: BlockDevice;
  readonly #scratch: FileDevice;
  readonly #map: AllocMap;
  readonly #filling = new Map<number, Promise<void>>();
  #flushing: Promise<void> = Promise.resolve();

  private constructor(lower: BlockDevice, scratch: FileDevice, map: AllocMap, blockBytes: number) {
    this.#lower = lower;
    this.#scratch = scratch;
    this.#map = map;
    this.size = lower.size;
    this.blockBytes = blockBytes;
  }

  /** Opens (or creates) the overlay whose scratch file is `scratchPath` (its map is `scratchPath.map`). */
  static async open(lower: BlockDevice, scratchPath: string, options: OverlayOptions = {}): Promise<Overlay> {
    const scratch = await FileDevice.open(scratchPath, { sizeBytes: lower.size });
    const map = await AllocMap.open(`${scratchPath}.map`);
    return new Overlay(lower, scratch, map, options.blockBytes ?? 64 * 1024);
  }

  /** Removes an overlay's files (after close): its writes are gone, the lower device untouched. */
  static async discard(scratchPath: string): Promise<void> {
    await fs.rm(scratchPath, { force: true });
    await fs.rm(`${scratchPath}.map`, { force: true });
  }

  async read(offset: number, length: number): Promise<Buffer> {
    const buffer = Buffer.allocUnsafe(length);
    await this.readInto(buffer, 0, offset, length);
    return buffer;
  }

  async readInto(buffer: Buffer, bufferOffset: number, offset: number, length: number): Promise<void> {
    const reads: Promise<void>[] = [];
    this.#runs(offset, length, (state, from, n) => {
      const at = bufferOffset + (from - offset);
      if (state === BlockState.ZERO) buffer.fill(0, at, at + n);
      else if (state === BlockState.DATA) reads.push(this.#scratch.readInto(buffer, at, from, n));
      else reads.push(readLower(this.#lower, buffer, at, from, n));
    });
    await Promise.all(reads);
  }

  async write(offset: number, data: Buffer, fua = false): Promise<void> {
    await this.#writeBlocks(offset, data.length, (from, n) => data.subarray(from - offset, from - offset + n));
    if (fua) await this.flush();
  }

  async writeZeroes(offset: number, length: number, options: ZeroOptions = {}): Promise<void> {
    const b = this.blockBytes;
    const firstFull = Math.ceil(offset / b);
    const endFull = Math.floor(Math.min(offset + length, this.size) / b);
    const tail = offset + length === this.size && endFull * b < this.size;
    const fullEnd = tail ? this.size : endFull * b;
    if (firstFull * b >= fullEnd || options.noHole) {
      // Partial blocks, or asked to keep the range allocated: real zeroes in the scratch file.
      await this.#writeZeroBytes(offset, length);
    } else {
      if (offset < firstFull * b) await this.#writeZeroBytes(offset, firstFull * b - offset);
      for (let blk = firstFull; blk * b < fullEnd; blk++) {
        await this.#filling.get(blk);
        this.#map.set(blk, BlockState.ZERO);
      }
      await this.#scratch.trim(firstFull * b, fullEnd - firstFull * b);
      if (fullEnd < offset + length) await this.#writeZeroBytes(fullEnd, offset + length - fullEnd);
    }
    if (options.fua) await this.flush();
  }

  trim(offset: number, length: number): Promise<void> {
    return this.writeZeroes(offset, length);
  }

  flush(): Promise<void> {
    const run = this.#flushing.then(async () => {
      await this.#scratch.flush();
      await this.#map.persist();
    });
    this.#flushing = run.catch(() => undefined);
    return run;
  }

  async extents(offset: number, length: number): Promise<Extent[]> {
    const out: Extent[] = [];
    const lowerRuns: [number, number][] = [];
    this.#runs(offset, length, (state, from, n) => {
      if (state === BlockState.LOWER) lowerRuns.push([from, n]);
    });
    const lower = lowerRuns.length > 0 ? await this.#lower.extents(offset, length) : [];
    this.#runs(offset, length, (state, from, n) => {
      if (state === BlockState.DATA) pushExtent(out, n, false, false);
      else if (state === BlockState.ZERO) pushExtent(out, n, true, true);
      else for (const e of sliceExtents(lower, from - offset, n)) pushExtent(out, e.length, e.hole, e.zero);
    });
    return out;
  }

  /** The runs this overlay holds itself (written or zeroed), in order. */
  ownRuns(): { offset: number; length: number; zero: boolean }[] {
    const out: { offset: number; length: number; zero: boolean }[] = [];
    this.#runs(0, this.size, (state, from, n) => {
      if (state !== BlockState.LOWER) out.push({ offset: from, length: n, zero: state === BlockState.ZERO });
    });
    return out;
  }

  async close(): Promise<void> {
    await this.flush();
    await this.#scratch.close();
    this.#map.close();
  }

  /** Calls fn for each run of same-state bytes in [offset, offset+length). */
  #runs(offset: number, length: number, fn: (state: BlockState, from: number, n: number) => void): void {
    const b = this.blockBytes;
    const end = offset + length;
    const firstBlock = Math.floor(offset / b);
    const lastBlock = Math.floor((end - 1) / b);
    let at = offset;
    let state: BlockState = BlockState.LOWER;
    let runStart = offset;
    const switchAt = (pos: number, next: BlockState) => {
      if (next === state) return;
      if (pos > runStart) fn(state, runStart, pos - runStart);
      runStart = pos;
      state = next;
    };
    this.#map.forEachSet(firstBlock, lastBlock, (blk, s) => {
      const from = Math.max(offset, blk * b);
      if (from > at) switchAt(at, BlockState.LOWER);
      switchAt(from, s);
      at = Math.min(end, (blk + 1) * b);
    });
    if (at < end) switchAt(at, BlockState.LOWER);
    if (end > runStart) fn(state, runStart, end - runStart);
  }

  async #writeZeroBytes(offset: number, length: number): Promise<void> {
    const zero = Buffer.alloc(Math.min(length, this.blockBytes));
    await this.#writeBlocks(offset, length, (_from, n) => zero.subarray(0, n));
  }

  /** Writes [offset, offset+length) block by block; `slice` gives the bytes for a sub-range. */
  async #writeBlocks(offset: number, length: number, slice: (from: number, n: number) => Buffer): Promise<void> {
    const b = this.blockBytes;
    const writes: Promise<void>[] = [];
    for (let from = offset; from < offset + length; ) {
      const blk = Math.floor(from / b);
      const to = Math.min(offset + length, (blk + 1) * b);
      writes.push(this.#writeInBlock(blk, from, slice(from, to - from)));
      from = to;
    }
    await Promise.all(writes);
  }

  async #writeInBlock(blk: number, from: number, data: Buffer): Promise<void> {
    const b = this.blockBytes;
    for (;;) {
      const filling = this.#filling.get(blk);
      if (!filling) break;
      await filling;
    }
    const blockStart = blk * b;
    const blockLen = Math.min(b, this.size - blockStart);
    if (this.#map.get(blk) === BlockState.DATA || data.length === blockLen) {
      await this.#scratch.write(from, data);
      this.#map.set(blk, BlockState.DATA);
      return;
    }
    // Copy on write: the rest of the block comes from below (or is zero).
    const fill = (async () => {
      const block = this.#map.get(blk) === BlockState.ZERO ? Buffer.alloc(blockLen) : await this.#lower.read(blockStart, blockLen);
      data.copy(block, from - blockStart);
      await this.#scratch.write(blockStart, block);
      this.#map.set(blk, BlockState.DATA);
    })();
    this.#filling.set(blk, fill);
    try {
      await fill;
    } finally {
      this.#filling.delete(blk);
    }
  }
}

async function readLower(lower: BlockDevice, buffer: Buffer, at: number, offset: number, length: number): Promise<void> {
  if (lower.readInto) return lower.readInto(buffer, at, offset, length);
  (await lower.read(offset, length)).copy(buffer, at);
}
