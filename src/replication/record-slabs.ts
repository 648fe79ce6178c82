/**
 * Where the outgoing stream keeps its copies of written data: big slabs filled
 * front to back and given back whole once the recovery site has acknowledged
 * every record in them. The stream is first in, first out, so a slab frees in
 * the order it filled, and nothing is allocated per write.
 *
 * A copy per write from Buffer's small pool (an ArrayBuffer every two 4 KiB
 * writes, or a fresh megabyte for each 1 MiB write) kept V8's collector busy
 * on other threads with the data of every write until its ACK: with
 * replication on, about a third of the protected appliance's CPU.
 */

/** A slab is an eighth of the stream's limit, from 1 to 8 MiB; writes over a quarter of a slab get a buffer of their own. */
const MIN_SLAB_BYTES = 1024 * 1024;
const MAX_SLAB_BYTES = 8 * 1024 * 1024;
/** Empty slabs kept for reuse; the rest are left to the collector. */
const SPARE_SLABS = 2;

interface Slab {
  buffer: Buffer;
  used: number;
  /** The newest seq with data in it. */
  lastSeq: number;
}

export class RecordSlabs {
  readonly #slabBytes: number;
  #current: Slab | undefined;
  /** Filled slabs, oldest first. */
  #full: Slab[] = [];
  #spare: Buffer[] = [];

  /** `limitBytes`: the stream's limit, which the slabs' size follows (a small stream, small slabs). */
  constructor(limitBytes: number) {
    this.#slabBytes = Math.min(MAX_SLAB_BYTES, Math.max(MIN_SLAB_BYTES, 2 ** Math.floor(Math.log2(Math.max(1, limitBytes / 8)))));
  }

  /** A copy of `data` for the record `seq` (seqs only grow until `reset`). */
  copy(data: Buffer, seq: number): Buffer {
    if (data.length > this.#slabBytes / 4) return Buffer.from(data);
    let slab = this.#current;
    if (!slab || slab.used + data.length > slab.buffer.length) {
      if (slab) this.#full.push(slab);
      slab = this.#current = { buffer: this.#spare.pop() ?? Buffer.allocUnsafeSlow(this.#slabBytes), used: 0, lastSeq: 0 };
    }
    const at = slab.used;
    data.copy(slab.buffer, at);
    slab.used = at + data.length;
    slab.lastSeq = seq;
    return slab.buffer.subarray(at, at + data.length);
  }

  /** The recovery site holds everything through `seq`: slabs with nothing newer are free. */
  release(seq: number): void {
    while (this.#full.length > 0 && this.#full[0]!.lastSeq <= seq) this.#free(this.#full.shift()!.buffer);
    const c = this.#current;
    if (c && c.lastSeq <= seq && this.#full.length === 0) c.used = 0;
  }

  /**
   * Every record was dropped (the stream overflowed, or restarted at a new
   * contact). Only call it when no connection can still be sending them.
   */
  reset(): void {
    for (const s of this.#full) this.#free(s.buffer);
    this.#full = [];
    if (this.#current) this.#current.used = 0;
  }

  /** Bytes held in slabs, spares included. */
  get bytes(): number {
    return (this.#full.length + (this.#current ? 1 : 0) + this.#spare.length) * this.#slabBytes;
  }

  #free(buffer: Buffer): void {
    if (this.#spare.length < SPARE_SLABS) this.#spare.push(buffer);
  }
}
