/**
 * A disk's dirty bitmap: which fixed blocks (64 KiB by default) changed since
 * the recovery site last held them. It replaces the outgoing stream when that
 * overflows, and drives bitmap, initial and activity-log syncs: the sync sends
 * each dirty block's current contents. A 1 TiB disk takes 2 MiB of bits.
 */
export const DEFAULT_BLOCK_BYTES = 64 * 1024;

export class DirtyBitmap {
  readonly blockBytes: number;
  readonly sizeBytes: number;
  readonly blocks: number;
  readonly #bits: Uint8Array;
  #count = 0;
  /** Where the next scan starts: syncs walk the disk once, front to back, then wrap. */
  #cursor = 0;

  constructor(sizeBytes: number, blockBytes = DEFAULT_BLOCK_BYTES) {
    this.sizeBytes = sizeBytes;
    this.blockBytes = blockBytes;
    this.blocks = Math.ceil(sizeBytes / blockBytes);
    this.#bits = new Uint8Array(Math.ceil(this.blocks / 8));
  }

  get dirtyBlocks(): number {
    return this.#count;
  }

  get dirtyBytes(): number {
    if (this.#count === 0) return 0;
    const last = this.blocks - 1;
    const lastShort = this.isDirty(last) ? this.blocks * this.blockBytes - this.sizeBytes : 0;
    return this.#count * this.blockBytes - lastShort;
  }

  isDirty(block: number): boolean {
    return (this.#bits[block >> 3]! & (1 << (block & 7))) !== 0;
  }

  /** Whether any block that [offset, offset+length) touches is dirty. */
  anyDirty(offset: number, length: number): boolean {
    if (this.#count === 0 || length <= 0) return false;
    const first = Math.floor(offset / this.blockBytes);
    const last = Math.min(this.blocks - 1, Math.floor((offset + length - 1) / this.blockBytes));
    for (let b = first; b <= last; b++) if (this.isDirty(b)) return true;
    return false;
  }

  /** Marks every block that [offset, offset+length) touches. */
  mark(offset: number, length: number): void {
    if (length <= 0) return;
    const first = Math.floor(offset / this.blockBytes);
    const last = Math.min(this.blocks - 1, Math.floor((offset + length - 1) / this.blockBytes));
    for (let b = first; b <= last; b++) this.markBlock(b);
  }

  markBlock(block: number): void {
    const i = block >> 3;
    const bit = 1 << (block & 7);
    if ((this.#bits[i]! & bit) === 0) {
      this.#bits[i]! |= bit;
      this.#count++;
    }
  }

  markAll(): void {
    for (let b = 0; b < this.blocks; b++) this.markBlock(b);
  }

  clearBlock(block: number): void {
    const i = block >> 3;
    const bit = 1 << (block & 7);
    if ((this.#bits[i]! & bit) !== 0) {
      this.#bits[i]! &= ~bit;
      this.#count--;
    }
  }

  /** The next dirty block at or after the cursor (wrapping), or undefined when clean. */
  nextDirty(): number | undefined {
    if (this.#count === 0) return undefined;
    for (let n = 0; n < this.blocks; n++) {
      const b = (this.#cursor + n) % this.blocks;
      if (this.#bits[b >> 3] === 0) {
        n += 7 - (b & 7);
        continue;
      }
      if (this.isDirty(b)) {
        this.#cursor = b + 1;
        return b;
      }
    }
    return undefined;
  }

  /** How many consecutive dirty blocks start at `block` (at most `max`); moves the cursor past them. */
  runFrom(block: number, max: number): number {
    let n = 1;
    while (n < max && block + n < this.blocks && this.isDirty(block + n)) n++;
    this.#cursor = block + n;
    return n;
  }

  /** The byte range of a block (the last one may be short). */
  range(block: number): { offset: number; length: number } {
    const offset = block * this.blockBytes;
    return { offset, length: Math.min(this.blockBytes, this.sizeBytes - offset) };
  }
}
