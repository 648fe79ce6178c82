/**
 * Reusable buffers for request data and read replies.
 *
 * Why every size is pooled, small ones included: a buffer allocated per
 * request, even 4 KiB, is an ArrayBuffer whose memory comes from malloc and is
 * only given back when V8 next collects garbage. At 4 KiB and queue depth 32 the
 * server made ~50 MiB of such buffers between collections, and glibc kept the
 * memory they had used (the server's RSS reached 180 MiB under fio, and ~470
 * MiB over a long benchmark). Buffers that go back to a free list are reused
 * while still warm, so the memory in use is what is in flight, no more.
 *
 * Size classes are a power of two plus HEADROOM_BYTES, so that a read reply (a
 * 16- or 32-byte header, then 2^k bytes of data read in place) fits the class
 * of its data: a 1 MiB read used to take a 2 MiB buffer, doubling the memory
 * of sequential reads. Lengths under MIN_POOLED_BYTES are left to Node's own
 * allocator, which carves them from shared 8 KiB slabs.
 *
 * The pool keeps at most `maxPooledBytes` idle, so a burst (or many clients)
 * does not keep its peak memory for ever.
 */
export const HEADROOM_BYTES = 64;
const MIN_POOLED_BYTES = 4096;
const MAX_CLASS_BITS = 26;

export class BufferPool {
  /** Free buffers by class (log2 of the payload size). */
  readonly #free: Buffer[][] = [];
  readonly #maxPooledBytes: number;
  #pooledBytes = 0;

  /** 16 MiB idle holds what a client at queue depth 8 of 1 MiB cycles through; more would only sit in RSS. */
  constructor(maxPooledBytes = 16 * 1024 * 1024) {
    this.#maxPooledBytes = maxPooledBytes;
    for (let bits = 0; bits <= MAX_CLASS_BITS; bits++) this.#free.push([]);
  }

  /** A buffer of at least `length` bytes; its contents are garbage. */
  acquire(length: number): Buffer {
    if (length < MIN_POOLED_BYTES) return Buffer.allocUnsafe(length);
    const bits = classBits(length);
    if (bits > MAX_CLASS_BITS) return Buffer.allocUnsafeSlow(length);
    const buffer = this.#free[bits]!.pop();
    if (buffer) {
      this.#pooledBytes -= buffer.length;
      return buffer;
    }
    return Buffer.allocUnsafeSlow(2 ** bits + HEADROOM_BYTES);
  }

  /** Gives back a buffer from `acquire`; the caller must not touch it again. */
  release(buffer: Buffer): void {
    const size = buffer.length;
    if (size < MIN_POOLED_BYTES) return;
    const bits = classBits(size);
    // Only whole buffers of a class come back (not views, not foreign buffers).
    if (bits > MAX_CLASS_BITS || size !== 2 ** bits + HEADROOM_BYTES || buffer.byteOffset !== 0) return;
    if (this.#pooledBytes + size > this.#maxPooledBytes) return;
    this.#free[bits]!.push(buffer);
    this.#pooledBytes += size;
  }

  get pooledBytes(): number {
    return this.#pooledBytes;
  }
}

/** The class whose buffers (2^bits + HEADROOM_BYTES) hold `length` bytes. */
function classBits(length: number): number {
  const payload = length - HEADROOM_BYTES;
  // Lengths past 2^31 are not pooled (and a request is at most 32 MiB anyway).
  if (payload > 2 ** 31) return MAX_CLASS_BITS + 1;
  return payload <= 1 ? 0 : 32 - Math.clz32(payload - 1);
}
