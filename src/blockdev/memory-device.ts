/**
 * A disk in memory, for tests and models: sparse, in 64 KiB chunks, so that a
 * 1 TiB test disk costs only what is written to it. Holes are real (a chunk
 * never written or wholly zeroed is absent), so extents are truthful.
 */
import { type BlockDevice, type Extent, type ZeroOptions, pushExtent } from "./block-device.js";
import { ReadOnlyError } from "./errors.js";

const CHUNK_BYTES = 64 * 1024;

export class MemoryDevice implements BlockDevice {
  readonly size: number;
  readonly readOnly: boolean;
  readonly #chunks = new Map<number, Buffer>();

  constructor(sizeBytes: number, options: { readOnly?: boolean } = {}) {
    this.size = sizeBytes;
    this.readOnly = options.readOnly ?? false;
  }

  async read(offset: number, length: number): Promise<Buffer> {
    const out = Buffer.alloc(length);
    this.#eachChunk(offset, length, (index, from, to, at) => {
      this.#chunks.get(index)?.copy(out, at, from, to);
    });
    return out;
  }

  async write(offset: number, data: Buffer): Promise<void> {
    this.#checkWritable();
    this.#eachChunk(offset, data.length, (index, from, to, at) => {
      let chunk = this.#chunks.get(index);
      if (!chunk) this.#chunks.set(index, (chunk = Buffer.alloc(CHUNK_BYTES)));
      data.copy(chunk, from, at, at + (to - from));
    });
  }

  async writeZeroes(offset: number, length: number, _options?: ZeroOptions): Promise<void> {
    this.#checkWritable();
    this.#zero(offset, length);
  }

  async trim(offset: number, length: number): Promise<void> {
    this.#checkWritable();
    this.#zero(offset, length);
  }

  async flush(): Promise<void> {}

  async extents(offset: number, length: number): Promise<Extent[]> {
    const extents: Extent[] = [];
    this.#eachChunk(offset, length, (index, from, to) => {
      const present = this.#chunks.has(index);
      pushExtent(extents, to - from, !present, !present);
    });
    return extents;
  }

  async close(): Promise<void> {}

  /** Bytes of chunks held: what a test checks to see that holes stay holes. */
  get allocatedBytes(): number {
    return this.#chunks.size * CHUNK_BYTES;
  }

  #zero(offset: number, length: number): void {
    this.#eachChunk(offset, length, (index, from, to) => {
      const chunk = this.#chunks.get(index);
      if (!chunk) return;
      if (from === 0 && to === CHUNK_BYTES) this.#chunks.delete(index);
      else chunk.fill(0, from, to);
    });
  }

  #checkWritable(): void {
    if (this.readOnly) throw new ReadOnlyError("this memory disk is read-only");
  }

  /** Calls `fn(chunkIndex, fromInChunk, toInChunk, offsetInRange)` for each chunk the range touches. */
  #eachChunk(offset: number, length: number, fn: (index: number, from: number, to: number, at: number) => void): void {
    let at = 0;
    while (at < length) {
      const pos = offset + at;
      const index = Math.floor(pos / CHUNK_BYTES);
      const from = pos - index * CHUNK_BYTES;
      const to = Math.min(CHUNK_BYTES, from + (length - at));
      fn(index, from, to, at);
      at += to - from;
    }
  }
}
