/**
 * A disk as it was at one seq: a read-only BlockDevice over the journal and
 * the replica. For each byte, the newest record at or before the seq that
 * covers it, else the replica. Opening one builds nothing (the journal's index
 * answers for any seq), so it opens in the same time for a 1 GiB or a 1 TiB
 * disk; while open, it pins its seq so promotion cannot pass it.
 */
import { type BlockDevice, type Extent, type FileDevice, ReadOnlyError, pushExtent } from "../blockdev/index.js";
import { JournalClosedError } from "./errors.js";
import type { Journal } from "./journal.js";
import { type Piece, PieceKind } from "./range-index.js";

export class PitView implements BlockDevice {
  readonly size: number;
  readonly readOnly = true;
  readonly diskName: string;
  readonly seq: number;
  readonly #journal: Journal;
  readonly #disk: number;
  readonly #replica: FileDevice;
  readonly #windowBytes: number;
  #closed = false;

  private constructor(journal: Journal, disk: number, diskName: string, size: number, seq: number) {
    this.#journal = journal;
    this.#disk = disk;
    this.#replica = journal.replica(disk);
    this.#windowBytes = journal.windowBytes(disk);
    this.diskName = diskName;
    this.size = size;
    this.seq = seq;
  }

  /** Opens disk `diskName` as of `seq` (any seq the journal holds, not only checkpoints). */
  static async open(journal: Journal, diskName: string, seq: number): Promise<PitView> {
    const disk = journal.disk(diskName);
    await journal.retainView(seq);
    return new PitView(journal, disk.id, disk.name, disk.sizeBytes, seq);
  }

  async read(offset: number, length: number): Promise<Buffer> {
    const buffer = Buffer.allocUnsafe(length);
    await this.readInto(buffer, 0, offset, length);
    return buffer;
  }

  readInto(buffer: Buffer, bufferOffset: number, offset: number, length: number): Promise<void> {
    // Not async, and no arrays in the common case: this is the hot path of random reads.
    if (this.#closed) return Promise.reject(this.#closedError());
    const pieces = this.#pieces(offset, length);
    if (pieces.length === 1) {
      const p = pieces[0]!;
      if (p.kind === PieceKind.DATA) return this.#journal.readPiece(p.seq, p.offset, buffer, bufferOffset, length);
      if (p.kind === PieceKind.BASE) return this.#replica.readInto(buffer, bufferOffset, offset, length);
      buffer.fill(0, bufferOffset, bufferOffset + length);
      return Promise.resolve();
    }
    const reads: Promise<void>[] = [];
    for (const p of pieces) {
      const at = bufferOffset + (p.offset - offset);
      if (p.kind === PieceKind.DATA) reads.push(this.#journal.readPiece(p.seq, p.offset, buffer, at, p.length));
      else if (p.kind === PieceKind.BASE) reads.push(this.#replica.readInto(buffer, at, p.offset, p.length));
      else buffer.fill(0, at, at + p.length);
    }
    return Promise.all(reads).then(() => undefined);
  }

  write(_offset: number, _data: Buffer): Promise<void> {
    return Promise.reject(this.#readOnlyError());
  }

  writeZeroes(_offset: number, _length: number): Promise<void> {
    return Promise.reject(this.#readOnlyError());
  }

  trim(_offset: number, _length: number): Promise<void> {
    return Promise.reject(this.#readOnlyError());
  }

  async flush(): Promise<void> {}

  async extents(offset: number, length: number): Promise<Extent[]> {
    this.#checkOpen();
    const out: Extent[] = [];
    const window = this.#journal.windowBytes(this.#disk);
    const replica = this.#journal.replica(this.#disk);
    for (let a = offset; a < offset + length; ) {
      const b = Math.min(offset + length, (Math.floor(a / window) + 1) * window);
      const pieces = this.#journal.resolve(this.#disk, this.seq, a, b - a);
      const base = pieces.some((p) => p.kind === PieceKind.BASE) ? await replica.extents(a, b - a) : [];
      for (const p of pieces) {
        if (p.kind === PieceKind.DATA) pushExtent(out, p.length, false, false);
        else if (p.kind === PieceKind.ZERO) pushExtent(out, p.length, false, true);
        else if (p.kind === PieceKind.TRIM) pushExtent(out, p.length, true, true);
        else for (const e of sliceExtents(base, p.offset - a, p.length)) pushExtent(out, e.length, e.hole, e.zero);
      }
      a = b;
    }
    return out;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#journal.releaseView(this.seq);
  }

  /** Pieces of a range, resolved window by window (see RangeIndex: queries stay small). */
  #pieces(offset: number, length: number): Piece[] {
    const window = this.#windowBytes;
    if (Math.floor(offset / window) === Math.floor((offset + length - 1) / window)) return this.#journal.resolve(this.#disk, this.seq, offset, length);
    const out: Piece[] = [];
    for (let a = offset; a < offset + length; ) {
      const b = Math.min(offset + length, (Math.floor(a / window) + 1) * window);
      for (const p of this.#journal.resolve(this.#disk, this.seq, a, b - a)) {
        const last = out[out.length - 1];
        if (last && p.kind === PieceKind.BASE && last.kind === PieceKind.BASE && last.offset + last.length === p.offset) last.length += p.length;
        else out.push(p);
      }
      a = b;
    }
    return out;
  }

  #checkOpen(): void {
    if (this.#closed) throw this.#closedError();
  }

  #closedError(): JournalClosedError {
    return new JournalClosedError(`the view of ${this.diskName} at seq ${this.seq} is closed`);
  }

  #readOnlyError(): ReadOnlyError {
    return new ReadOnlyError(`the view of ${this.diskName} at seq ${this.seq} is read-only`, { hint: "put an Overlay over it to write" });
  }
}

/** The part [from, from+length) of a run of extents that starts at 0. */
export function sliceExtents(extents: Extent[], from: number, length: number): Extent[] {
  const out: Extent[] = [];
  let at = 0;
  for (const e of extents) {
    const s = Math.max(at, from);
    const t = Math.min(at + e.length, from + length);
    if (s < t) out.push({ length: t - s, hole: e.hole, zero: e.zero });
    at += e.length;
    if (at >= from + length) break;
  }
  return out;
}
