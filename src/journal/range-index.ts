/**
 * The journal index: for a disk, a seq and a byte range, which record holds
 * the newest data for each byte (else the replica). Why this shape:
 *
 * - A PIT view must open in time independent of the disk's size and answer
 *   for any seq, so nothing is built per view: the index is shared, and a
 *   query at seq S just ignores entries newer than S.
 * - Each disk is cut into chunks at a few levels (16× apart; 4 KiB at the
 *   finest up to 1 GiB disks, at most 2^18 chunks beyond, so a 1 TiB disk
 *   costs what a 1 GiB one does; list heads are made per page on first use). A
 *   record goes to the finest level where it touches at most two chunks, and
 *   is pushed on those chunks' lists: a 4 KiB write lands in the fine level,
 *   a whole-disk TRIM in the top one. A query walks, newest first, the lists
 *   of the chunks it touches at every level (a k-way merge by seq) and stops
 *   as soon as every byte is covered.
 * - Lists are linked through paged typed arrays (seq 8 B + back-link 4 B per
 *   entry), appended in seq order, so promotion frees whole pages from the front.
 */
import { PagedColumn } from "./paged-column.js";
import { RecordType } from "./record.js";
import type { RecordTable } from "./record-table.js";

export const PieceKind = { DATA: 0, ZERO: 1, TRIM: 2, BASE: 3 } as const;
export type PieceKind = (typeof PieceKind)[keyof typeof PieceKind];

/** A run of a read: from record `seq` (DATA/ZERO/TRIM), or from the replica (BASE). */
export interface Piece {
  offset: number;
  length: number;
  kind: PieceKind;
  seq: number;
}

const LEVEL_BITS = 4;
const MAX_FINE_CHUNKS_LOG2 = 18;
const MIN_CHUNK_LOG2 = 12;
const HEAD_PAGE = 4096;

/**
 * The list heads of one level (entry id + 1, 0 for an empty list), in pages
 * made on first use: a disk costs only for the parts of it written to.
 */
class Heads {
  readonly #pages = new Map<number, Float64Array>();

  get(chunk: number): number {
    const page = this.#pages.get(Math.floor(chunk / HEAD_PAGE));
    return page === undefined ? 0 : page[chunk % HEAD_PAGE]!;
  }

  set(chunk: number, value: number): void {
    const p = Math.floor(chunk / HEAD_PAGE);
    let page = this.#pages.get(p);
    if (!page) this.#pages.set(p, (page = new Float64Array(HEAD_PAGE)));
    page[chunk % HEAD_PAGE] = value;
  }

  get bytes(): number {
    return this.#pages.size * HEAD_PAGE * 8;
  }

  get isEmpty(): boolean {
    return this.#pages.size === 0;
  }
}

class DiskLevels {
  readonly shifts: number[] = [];
  readonly chunkBytes: number[] = [];
  readonly heads: Heads[] = [];

  constructor(sizeBytes: number) {
    const sizeLog2 = Math.max(MIN_CHUNK_LOG2, Math.ceil(Math.log2(Math.max(1, sizeBytes))));
    let shift = Math.max(MIN_CHUNK_LOG2, sizeLog2 - MAX_FINE_CHUNKS_LOG2);
    for (;;) {
      const chunk = 2 ** shift;
      this.shifts.push(shift);
      this.chunkBytes.push(chunk);
      this.heads.push(new Heads());
      if (chunk >= sizeBytes) break;
      shift += LEVEL_BITS;
    }
  }
}

export class RangeIndex {
  readonly #disks: DiskLevels[] = [];
  readonly #entrySeq = PagedColumn.float64();
  readonly #entryBack = PagedColumn.uint32();
  #nextEntry = 0;
  #firstLiveEntry = 0;
  #firstLiveSeq = 0;

  addDisk(id: number, sizeBytes: number): void {
    this.#disks[id] = new DiskLevels(sizeBytes);
  }

  /** Adds a WRITE, ZERO or TRIM record; records arrive in seq order. */
  add(disk: number, seq: number, offset: number, length: number): void {
    if (length <= 0) return;
    const d = this.#disks[disk]!;
    const last = offset + length - 1;
    let level = 0;
    while (level < d.shifts.length - 1 && Math.floor(last / d.chunkBytes[level]!) - Math.floor(offset / d.chunkBytes[level]!) > 1) level++;
    const chunk = d.chunkBytes[level]!;
    const heads = d.heads[level]!;
    for (let c = Math.floor(offset / chunk); c <= Math.floor(last / chunk); c++) {
      const e = this.#nextEntry++;
      const head = heads.get(c);
      this.#entrySeq.set(e, seq);
      this.#entryBack.set(e, head === 0 ? 0 : e - (head - 1));
      heads.set(c, e + 1);
    }
  }

  /** Records before `seq` are in the replica now: queries stop at them. */
  setFirstLiveSeq(seq: number): void {
    if (seq <= this.#firstLiveSeq) return;
    this.#firstLiveSeq = seq;
    let lo = this.#firstLiveEntry;
    let hi = this.#nextEntry;
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      if (this.#entrySeq.get(mid) < seq) lo = mid + 1;
      else hi = mid;
    }
    this.#firstLiveEntry = lo;
    this.#entrySeq.dropBefore(lo);
    this.#entryBack.dropBefore(lo);
  }

  /** Fine chunk size of a disk: callers split long reads at its multiples. */
  windowBytes(disk: number): number {
    const d = this.#disks[disk]!;
    return d.chunkBytes[Math.min(1, d.chunkBytes.length - 1)]!;
  }

  /** The pieces of [offset, offset+length) on `disk` as of `atSeq`, in offset order. */
  resolve(table: RecordTable, disk: number, atSeq: number, offset: number, length: number): Piece[] {
    const d = this.#disks[disk]!;
    const cursors = scratchCursors;
    cursors.length = 0;
    const last = offset + length - 1;
    for (let l = 0; l < d.shifts.length; l++) {
      const heads = d.heads[l]!;
      if (heads.isEmpty) continue;
      const chunk = d.chunkBytes[l]!;
      for (let c = Math.floor(offset / chunk); c <= Math.floor(last / chunk); c++) {
        let e = heads.get(c) - 1;
        while (e >= this.#firstLiveEntry && this.#entrySeq.get(e) > atSeq) e = this.#back(e);
        if (e >= this.#firstLiveEntry) cursors.push(e);
      }
    }
    let uncovered: number[] | undefined;
    const pieces: Piece[] = [];
    let prevSeq = -1;
    while (uncovered === undefined || uncovered.length > 0) {
      let best = -1;
      let bestSeq = -1;
      for (let i = 0; i < cursors.length; i++) {
        const e = cursors[i]!;
        if (e < this.#firstLiveEntry) continue;
        const s = this.#entrySeq.get(e);
        if (s > bestSeq) {
          bestSeq = s;
          best = i;
        }
      }
      if (best < 0) break;
      cursors[best] = this.#back(cursors[best]!);
      if (bestSeq === prevSeq) continue;
      prevSeq = bestSeq;
      const type = table.type(bestSeq);
      const kind = type === RecordType.WRITE ? PieceKind.DATA : type === RecordType.ZERO ? PieceKind.ZERO : PieceKind.TRIM;
      const ro = table.offset(bestSeq);
      const rl = table.length(bestSeq);
      if (uncovered === undefined) {
        if (ro <= offset && ro + rl >= offset + length) {
          // The newest record covers the whole range: the common case of a small read.
          pieces.push({ offset, length, kind, seq: bestSeq });
          return pieces;
        }
        uncovered = [offset, offset + length];
      }
      uncovered = subtract(uncovered, ro, ro + rl, kind, bestSeq, pieces);
    }
    uncovered ??= [offset, offset + length];
    for (let i = 0; i < uncovered.length; i += 2) {
      pieces.push({ offset: uncovered[i]!, length: uncovered[i + 1]! - uncovered[i]!, kind: PieceKind.BASE, seq: 0 });
    }
    if (pieces.length > 1) pieces.sort((a, b) => a.offset - b.offset);
    return pieces;
  }

  /** Bytes held by the index's lists (the record table is counted apart). */
  get bytes(): number {
    let n = this.#entrySeq.bytes + this.#entryBack.bytes;
    for (const d of this.#disks) if (d) for (const h of d.heads) n += h.bytes;
    return n;
  }

  #back(e: number): number {
    const back = this.#entryBack.get(e);
    return back === 0 ? -1 : e - back;
  }
}

/** Reused by every query: resolve is synchronous, so one list serves them all. */
const scratchCursors: number[] = [];

/** Removes [from, to) from the sorted flat list of ranges, recording what it covered. */
function subtract(ranges: number[], from: number, to: number, kind: PieceKind, seq: number, pieces: Piece[]): number[] {
  let out: number[] | undefined;
  for (let i = 0; i < ranges.length; i += 2) {
    const s = ranges[i]!;
    const e = ranges[i + 1]!;
    if (to <= s || from >= e) {
      out?.push(s, e);
      continue;
    }
    if (!out) out = ranges.slice(0, i);
    const cs = Math.max(s, from);
    const ce = Math.min(e, to);
    pieces.push({ offset: cs, length: ce - cs, kind, seq });
    if (s < cs) out.push(s, cs);
    if (ce < e) out.push(ce, e);
  }
  return out ?? ranges;
}
