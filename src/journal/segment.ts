/**
 * One segment file of the journal: `journal/<first-seq>.seg`, a 32-byte file
 * header, then records back to back. Appends write at explicit positions;
 * reads (PIT views, promotion) may run while the segment is deleted by
 * promotion, so the descriptor stays open until the last reader is done.
 */
import fs from "node:fs";
import path from "node:path";
import { crc32c } from "../checksum/index.js";
import { FileDevice } from "../blockdev/index.js";
import { fsyncDir } from "./atomic-file.js";
import { readU64, writeU64 } from "./record.js";

export const SEGMENT_HEADER_BYTES = 32;
/**
 * Appends are written with O_DSYNC: one writev is durable when it returns, so
 * a batch costs one trip to the thread pool rather than a write and then an
 * fdatasync (the same guarantee, half the hops on the hot path).
 */
const APPEND_FLAGS = fs.constants.O_RDWR | fs.constants.O_DSYNC;
const MAGIC = Buffer.from("LLJSEG01", "latin1");

export function segmentFileName(firstSeq: number): string {
  return `${String(firstSeq).padStart(20, "0")}.seg`;
}

/** The first seq a segment file's name promises, or undefined for other files. */
export function parseSegmentFileName(name: string): number | undefined {
  const m = /^(\d{20})\.seg$/.exec(name);
  return m ? Number(m[1]) : undefined;
}

export class Segment {
  readonly path: string;
  readonly name: string;
  readonly firstSeq: number;
  /** The last seq it holds; firstSeq - 1 while empty. */
  lastSeq: number;
  /** Bytes of valid content (header and whole records). */
  sizeBytes: number;
  /** The last seq, and the bytes, known durable (what an index snapshot may cover). */
  durableSeq: number;
  durableBytes: number;
  readonly #fd: number;
  /** Reads go through a read-only FileDevice: it reads from the page cache inline when it can. */
  readonly #reader: FileDevice;
  #readers = 0;
  #removed = false;
  #closed = false;

  private constructor(file: string, fd: number, reader: FileDevice, firstSeq: number, sizeBytes: number) {
    this.path = file;
    this.#reader = reader;
    this.name = path.basename(file);
    this.#fd = fd;
    this.firstSeq = firstSeq;
    this.lastSeq = this.durableSeq = firstSeq - 1;
    this.sizeBytes = this.durableBytes = sizeBytes;
  }

  /** Creates a new empty segment durably: header written and synced, directory synced. */
  static async create(dir: string, firstSeq: number): Promise<Segment> {
    const file = path.join(dir, segmentFileName(firstSeq));
    const fd = await call<number>((cb) => fs.open(file, APPEND_FLAGS | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o644, cb));
    const header = encodeSegmentHeader(firstSeq);
    await call<number>((cb) => fs.write(fd, header, 0, header.length, 0, cb));
    await call<void>((cb) => fs.fdatasync(fd, cb));
    await fsyncDir(dir);
    return new Segment(file, fd, await FileDevice.open(file, { readOnly: true }), firstSeq, SEGMENT_HEADER_BYTES);
  }

  /** Opens an existing segment; its content is checked by the scan, not here. */
  static async open(file: string, firstSeq: number, readOnly: boolean): Promise<Segment> {
    const fd = await call<number>((cb) => fs.open(file, readOnly ? fs.constants.O_RDONLY : APPEND_FLAGS, cb));
    const size = fs.fstatSync(fd).size;
    return new Segment(file, fd, await FileDevice.open(file, { readOnly: true }), firstSeq, size);
  }

  /** Checks the file header; returns a reason when it is not a valid one for this segment. */
  checkHeader(b: Buffer): string | undefined {
    if (b.length < SEGMENT_HEADER_BYTES) return "truncated segment header";
    if (!b.subarray(0, 8).equals(MAGIC)) return "not a segment file (bad magic)";
    if (crc32c(b.subarray(0, 28)) !== b.readUInt32LE(28)) return "segment header checksum mismatch";
    const first = readU64(b, 8);
    if (first !== this.firstSeq) return `segment header says first seq ${first}, its name says ${this.firstSeq}`;
    return undefined;
  }

  read(buffer: Buffer, bufferOffset: number, length: number, position: number): Promise<void> {
    this.#readers++;
    return this.#reader.readInto(buffer, bufferOffset, position, length).then(this.#readDone, this.#readFailed);
  }

  // Bound once, not per read: reads are the hot path of PIT views.
  readonly #readDone = (): void => {
    this.#readers--;
    if (this.#removed && this.#readers === 0) this.#closeNow();
  };

  readonly #readFailed = (err: unknown): never => {
    this.#readDone();
    throw err;
  };

  async writev(buffers: Buffer[], position: number): Promise<void> {
    let pos = position;
    let parts = buffers;
    let total = 0;
    for (const b of buffers) total += b.length;
    while (total > 0) {
      const n = await call<number>((cb) => fs.writev(this.#fd, parts, pos, cb));
      total -= n;
      pos += n;
      if (total > 0) parts = skipBytes(parts, n);
    }
  }

  /** Makes everything written durable (a no-op for appends, written O_DSYNC; kept for truncation and clarity). */
  sync(): Promise<void> {
    return call<void>((cb) => fs.fdatasync(this.#fd, cb));
  }

  truncate(sizeBytes: number): Promise<void> {
    this.sizeBytes = sizeBytes;
    return call<void>((cb) => fs.ftruncate(this.#fd, sizeBytes, cb));
  }

  /** Rewrites the file header (after a crash left a new segment without one). */
  async rewriteHeader(): Promise<void> {
    await this.truncate(0);
    const header = encodeSegmentHeader(this.firstSeq);
    await call<number>((cb) => fs.write(this.#fd, header, 0, header.length, 0, cb));
    await this.sync();
    this.sizeBytes = SEGMENT_HEADER_BYTES;
  }

  /** Deletes the file; the descriptor stays open for readers still in flight. */
  async remove(): Promise<void> {
    if (this.#removed) return;
    this.#removed = true;
    await fs.promises.rm(this.path, { force: true });
    if (this.#readers === 0) this.#closeNow();
  }

  close(): void {
    if (this.#readers === 0) this.#closeNow();
    else this.#removed = true;
  }

  #closeNow(): void {
    if (this.#closed) return;
    this.#closed = true;
    fs.close(this.#fd, () => undefined);
    void this.#reader.close();
  }
}

export function encodeSegmentHeader(firstSeq: number): Buffer {
  const b = Buffer.alloc(SEGMENT_HEADER_BYTES);
  MAGIC.copy(b, 0);
  writeU64(b, 8, firstSeq);
  b.writeUInt32LE(crc32c(b.subarray(0, 28)), 28);
  return b;
}

function skipBytes(buffers: Buffer[], n: number): Buffer[] {
  const out: Buffer[] = [];
  let skip = n;
  for (const b of buffers) {
    if (skip >= b.length) {
      skip -= b.length;
      continue;
    }
    out.push(skip > 0 ? b.subarray(skip) : b);
    skip = 0;
  }
  return out;
}

function call<T>(fn: (cb: (err: NodeJS.ErrnoException | null, value: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => fn((err, value) => (err ? reject(err) : resolve(value))));
}
