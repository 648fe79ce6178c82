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
 *
 * Integrity: the map keeps each scratch block's crc32c as of the last flush.
 * A block is checked the first time it is read (or partly rewritten) after
 * the open, and damage is an error, never data. After a clean close every
 * block must match; after a crash, blocks may hold writes that were never
 * flushed, which cannot be told from damage, so the open checks them all,
 * keeps them as found and says how many changed (`openReport`).
 */
import fs from "node:fs/promises";
import { type BlockDevice, type Extent, FileDevice, type ZeroOptions, pushExtent } from "../blockdev/index.js";
import { crc32c } from "../checksum/index.js";
import { AllocMap, BlockState } from "./alloc-map.js";
import { OverlayCorruptError } from "./errors.js";
import { sliceExtents } from "./pit-view.js";

export interface OverlayOptions {
  blockBytes?: number;
}

export interface OverlayOpenReport {
  /** The last close was clean. */
  clean: boolean;
  /** Blocks checked at open (after a crash: all of them). */
  blocksChecked: number;
  /** Blocks whose contents differed from the last flush (writes never flushed, or damage: after a crash they look alike). */
  blocksChanged: number;
}

export class Overlay implements BlockDevice {
  readonly size: number;
  readonly readOnly = false;
  readonly blockBytes: number;
  readonly #lower: BlockDevice;
  readonly #scratch: FileDevice;
  readonly #map: AllocMap;
  readonly #filling = new Map<number, Promise<void>>();
  /** Scratch blocks known good since the open: checked, or written by this process. */
  readonly #checked = new Set<number>();
  /** Scratch blocks written since their checksum was taken. */
  #dirty = new Set<number>();
  /** Writes started per block: a check that raced one proves nothing either way. */
  readonly #writesStarted = new Map<number, number>();
  #flushing: Promise<void> = Promise.resolve();
  openReport: OverlayOpenReport = { clean: true, blocksChecked: 0, blocksChanged: 0 };

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
    let opened: { map: AllocMap; clean: boolean };
    try {
      opened = await AllocMap.open(`${scratchPath}.map`);
    } catch (err) {
      await scratch.close();
      throw err;
    }
    const overlay = new Overlay(lower, scratch, opened.map, options.blockBytes ?? 64 * 1024);
    if (!opened.clean) {
      try {
        await overlay.#checkAll();
      } catch (err) {
        await overlay.#closeFiles(false);
        throw err;
      }
    }
    return overlay;
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
      else if (state === BlockState.DATA) reads.push(this.#readScratch(buffer, at, from, n));
      else reads.push(readLower(this.#lower, buffer, at, from, n));
    });
    await Promise.all(reads);
  }

  async #readScratch(buffer: Buffer, at: number, from: number, n: number): Promise<void> {
    const b = this.blockBytes;
    const checks: Promise<void>[] = [];
    for (let blk = Math.floor(from / b); blk * b < from + n; blk++) if (!this.#checked.has(blk)) checks.push(this.#check(blk));
    await Promise.all(checks);
    await this.#scratch.readInto(buffer, at, from, n);
  }

  /** Reads a scratch block whole and compares it with its checksum: damage is an error. */
  async #check(blk: number): Promise<void> {
    const b = this.blockBytes;
    const start = blk * b;
    const writes = this.#writesStarted.get(blk);
    const block = await this.#scratch.read(start, Math.min(b, this.size - start));
    if (this.#checked.has(blk) || this.#writesStarted.get(blk) !== writes) return;
    const want = this.#map.crc(blk);
    const got = crc32c(block);
    if (want === undefined) this.#map.setCrc(blk, got);
    else if (want !== got) {
      throw new OverlayCorruptError(this.#scratch.path, start, `block ${blk} does not match its checksum`, {
        hint: "the overlay's scratch file is damaged: discard the overlay (a test), or roll the failover back and fail over again",
      });
    }
    this.#checked.add(blk);
  }

  /** After a crash: every scratch block checked, and given the checksum of what it holds. */
  async #checkAll(): Promise<void> {
    const b = this.blockBytes;
    let checked = 0;
    let changed = 0;
    const blocks: number[] = [];
    this.#map.forEachSet(0, Math.ceil(this.size / b) - 1, (blk, state) => {
      if (state === BlockState.DATA) blocks.push(blk);
    });
    for (const blk of blocks) {
      const start = blk * b;
      const crc = crc32c(await this.#scratch.read(start, Math.min(b, this.size - start)));
      if (this.#map.crc(blk) !== crc) {
        this.#map.setCrc(blk, crc);
        changed++;
      }
      this.#checked.add(blk);
      checked++;
    }
    await this.#map.persist();
    this.openReport = { clean: false, blocksChecked: checked, blocksChanged: changed };
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
      // Checksums of the blocks written since the last flush; a block written again meanwhile stays dirty.
      const dirty = this.#dirty;
      this.#dirty = new Set();
      const b = this.blockBytes;
      for (const blk of dirty) {
        if (this.#map.get(blk) !== BlockState.DATA) continue;
        const start = blk * b;
        this.#map.setCrc(blk, crc32c(await this.#scratch.read(start, Math.min(b, this.size - start))));
      }
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
    let clean = false;
    try {
      await this.flush();
      clean = true;
    } finally {
      await this.#closeFiles(clean);
    }
  }

  async #closeFiles(clean: boolean): Promise<void> {
    try {
      await this.#map.close({ clean });
    } finally {
      await this.#scratch.close();
    }
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

  /** A scratch block this process wrote: good as it is; its checksum is taken at the next flush. */
  #written(blk: number): void {
    this.#checked.add(blk);
    this.#dirty.add(blk);
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
      // A partial rewrite keeps the rest of the block: it must be good before it is vouched for again.
      if (data.length < blockLen && !this.#checked.has(blk)) await this.#check(blk);
      this.#writesStarted.set(blk, (this.#writesStarted.get(blk) ?? 0) + 1);
      await this.#scratch.write(from, data);
      this.#map.set(blk, BlockState.DATA);
      this.#written(blk);
      return;
    }
    // Copy on write: the rest of the block comes from below (or is zero).
    const fill = (async () => {
      const block = this.#map.get(blk) === BlockState.ZERO ? Buffer.alloc(blockLen) : await this.#lower.read(blockStart, blockLen);
      data.copy(block, from - blockStart);
      await this.#scratch.write(blockStart, block);
      this.#map.set(blk, BlockState.DATA);
      this.#written(blk);
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
