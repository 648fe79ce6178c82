/**
 * Reusable buffers for request data and read replies. Allocating a fresh
 * megabyte per request costs page faults and garbage collection that showed up
 * as the gap between us and nbdkit on 1 MiB transfers; a buffer that goes back
 * to a free list is warm when it is next used. Sizes are rounded up to powers of
 * two; small buffers (under 64 KiB) are left to Node's own allocator, which
 * pools them already. The pool keeps at most `maxPooledBytes` idle.
 */
const MIN_POOLED_BYTES = 64 * 1024;

export class BufferPool {
  readonly #free = new Map<number, Buffer[]>();
  readonly #maxPooledBytes: number;
  #pooledBytes = 0;

  constructor(maxPooledBytes = 32 * 1024 * 1024) {
    this.#maxPooledBytes = maxPooledBytes;
  }

  /** A buffer of at least `length` bytes; its contents are garbage. */
  acquire(length: number): Buffer {
    if (length < MIN_POOLED_BYTES) return Buffer.allocUnsafe(length);
    const size = roundUp(length);
    const list = this.#free.get(size);
    const buffer = list?.pop();
    if (buffer) {
      this.#pooledBytes -= size;
      return buffer;
    }
    return Buffer.allocUnsafeSlow(size);
  }

  /** Gives back a buffer from `acquire`; the caller must not touch it again. */
  release(buffer: Buffer): void {
    const size = buffer.length;
    if (size < MIN_POOLED_BYTES || size !== roundUp(size)) return;
    if (this.#pooledBytes + size > this.#maxPooledBytes) return;
    let list = this.#free.get(size);
    if (!list) this.#free.set(size, (list = []));
    list.push(buffer);
    this.#pooledBytes += size;
  }

  get pooledBytes(): number {
    return this.#pooledBytes;
  }
}

function roundUp(n: number): number {
  return 2 ** Math.ceil(Math.log2(n));
}
