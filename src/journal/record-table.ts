/**
 * Every record's header fields, by seq, in columns (STYLE: no object per
 * record). Seqs are contiguous, so a record's row is `seq - baseSeq` and the
 * seq itself costs nothing; the segment holding it is found from the seq by a
 * binary search over segments. 32 bytes a record, and one bit: whether the
 * record's payload checksum was checked since the open (journal.ts checks it
 * on a record's first read, since the open reads headers only).
 */
import { PagedColumn } from "./paged-column.js";
import type { RecordType } from "./record.js";

export interface RecordRow {
  type: RecordType;
  disk: number;
  timeMs: number;
  offset: number;
  length: number;
  dataPos: number;
}

export class RecordTable {
  readonly #base: number;
  readonly #kind = PagedColumn.uint32();
  readonly #time = PagedColumn.float64();
  readonly #offset = PagedColumn.float64();
  readonly #length = PagedColumn.float64();
  readonly #dataPos = PagedColumn.uint32();
  /** One bit a record, 32 records a word. */
  readonly #verified = PagedColumn.uint32();
  #first: number;
  #last: number;

  /** An empty table whose first record will be `firstSeq`. */
  constructor(firstSeq: number) {
    this.#base = firstSeq;
    this.#first = firstSeq;
    this.#last = firstSeq - 1;
  }

  /** The oldest seq still held (records before it were promoted). */
  get firstSeq(): number {
    return this.#first;
  }

  get lastSeq(): number {
    return this.#last;
  }

  push(seq: number, type: RecordType, disk: number, timeMs: number, offset: number, length: number, dataPos: number): void {
    const i = seq - this.#base;
    this.#kind.set(i, type | (disk << 8));
    this.#time.set(i, timeMs);
    this.#offset.set(i, offset);
    this.#length.set(i, length);
    this.#dataPos.set(i, dataPos);
    this.#setVerified(i, false);
    this.#last = seq;
  }

  /** Whether record `seq`'s payload checksum was checked. */
  verified(seq: number): boolean {
    const i = seq - this.#base;
    return ((this.#verified.get(Math.floor(i / 32)) >>> i % 32) & 1) === 1;
  }

  markVerified(seq: number): void {
    this.#setVerified(seq - this.#base, true);
  }

  #setVerified(i: number, on: boolean): void {
    const word = Math.floor(i / 32);
    const bit = (1 << i % 32) >>> 0;
    const w = this.#verified.get(word);
    if (((w & bit) !== 0) !== on) this.#verified.set(word, on ? (w | bit) >>> 0 : (w & ~bit) >>> 0);
  }

  has(seq: number): boolean {
    return seq >= this.#first && seq <= this.#last;
  }

  type(seq: number): RecordType {
    return (this.#kind.get(seq - this.#base) & 0xff) as RecordType;
  }

  disk(seq: number): number {
    return this.#kind.get(seq - this.#base) >>> 8;
  }

  timeMs(seq: number): number {
    return this.#time.get(seq - this.#base);
  }

  offset(seq: number): number {
    return this.#offset.get(seq - this.#base);
  }

  length(seq: number): number {
    return this.#length.get(seq - this.#base);
  }

  dataPos(seq: number): number {
    return this.#dataPos.get(seq - this.#base);
  }

  row(seq: number): RecordRow {
    return {
      type: this.type(seq),
      disk: this.disk(seq),
      timeMs: this.timeMs(seq),
      offset: this.offset(seq),
      length: this.length(seq),
      dataPos: this.dataPos(seq),
    };
  }

  /** Forgets records before `seq` (promoted into the replica). */
  dropBefore(seq: number): void {
    if (seq <= this.#first) return;
    this.#first = Math.min(seq, this.#last + 1);
    const i = this.#first - this.#base;
    for (const c of [this.#kind, this.#time, this.#offset, this.#length, this.#dataPos]) c.dropBefore(i);
    this.#verified.dropBefore(Math.floor(i / 32));
  }

  /**
   * The newest seq whose time is at or before `timeMs`, or firstSeq - 1.
   * Source clocks move forward; a binary search is right when they do, and
   * close enough when one steps back.
   */
  lastAtOrBeforeTime(timeMs: number): number {
    let lo = this.#first;
    let hi = this.#last;
    let found = this.#first - 1;
    while (lo <= hi) {
      const mid = Math.floor((lo + hi) / 2);
      if (this.timeMs(mid) <= timeMs) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }

  get bytes(): number {
    let n = 0;
    for (const c of [this.#kind, this.#time, this.#offset, this.#length, this.#dataPos, this.#verified]) n += c.bytes;
    return n;
  }
}
