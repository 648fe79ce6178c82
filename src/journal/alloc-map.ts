/**
 * An overlay's allocation map: for each block, whether it reads from the
 * lower device, from the scratch file, or as zeroes, and for each block in
 * the scratch file the crc32c of its contents as of the last flush. Kept in
 * memory as sparse pages of one byte per block (a 1 TiB disk with nothing
 * written costs nothing), and on disk as an append-only log of changes after
 * a header: each flush appends the changes since the last and syncs, so a
 * crash loses only what was not flushed. Each entry has its own checksum; a
 * torn end (bad entries with no good one after them) is dropped, a bad entry
 * before a good one is corruption and the open fails rather than read the
 * overlay's blocks from below.
 *
 * A clean close appends a CLEAN entry. Every open rewrites the log without
 * it (compacted, atomically), so CLEAN is last only while the overlay is
 * closed: an open that finds it knows every block matches its checksum, and a
 * mismatch is damage. Without it (a crash, or a damaged last entry, which
 * looks the same) blocks may hold writes that were never flushed: the overlay
 * checks them all at open and keeps them as found (overlay.ts).
 *
 *   header   0 "LLOVMAP2"  8 u32 version (2)  12 u32 crc32c of bytes 0..12
 *   entry    0 u64 block   8 u8 state  9..12 zero  12 u32 block crc32c  16 u32 crc32c of bytes 0..16
 *
 * A map from before checksums (16-byte entries, no header) opens as after a
 * crash: its blocks are checked and given checksums.
 */
import fs from "node:fs";
import { crc32c } from "../checksum/index.js";
import { writeFileAtomic } from "./atomic-file.js";
import { OverlayCorruptError } from "./errors.js";
import { readU64, writeU64 } from "./record.js";

export const BlockState = { LOWER: 0, DATA: 1, ZERO: 2 } as const;
export type BlockState = (typeof BlockState)[keyof typeof BlockState];

const PAGE_BLOCKS = 4096;
const MAGIC = Buffer.from("LLOVMAP2");
const HEADER_BYTES = 16;
const ENTRY_BYTES = 20;
const V1_ENTRY_BYTES = 16;
/** Not a block state: the entry a clean close appends. */
const CLEAN = 3;

export interface AllocMapOpen {
  map: AllocMap;
  /** The last close was clean: every block in the scratch file matches its checksum. */
  clean: boolean;
}

export class AllocMap {
  readonly path: string;
  readonly #pages = new Map<number, Uint8Array>();
  /** crc32c of each DATA block's contents as of the last flush (undefined: not known yet). */
  readonly #crcs = new Map<number, number>();
  #pending = new Set<number>();
  #fd: number;
  #logBytes: number;

  private constructor(file: string, fd: number, logBytes: number) {
    this.path = file;
    this.#fd = fd;
    this.#logBytes = logBytes;
  }

  static async open(file: string): Promise<AllocMapOpen> {
    let log: Buffer;
    try {
      log = await fs.promises.readFile(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      log = Buffer.alloc(0);
    }
    const { states, crcs, clean } = log.length === 0 ? { states: new Map<number, BlockState>(), crcs: new Map<number, number>(), clean: true } : parse(file, log);
    const live = [...states].filter(([, s]) => s !== BlockState.LOWER);
    // Rewritten at every open: compacted, in this format, and without a CLEAN entry until the next clean close.
    await writeFileAtomic(file, Buffer.concat([encodeHeader(), ...live.map(([b, s]) => encodeEntry(b, s, crcs.get(b) ?? 0))]));
    const fd = fs.openSync(file, "r+");
    const map = new AllocMap(file, fd, HEADER_BYTES + live.length * ENTRY_BYTES);
    for (const [block, state] of live) {
      map.#setPage(block, state);
      const crc = crcs.get(block);
      if (state === BlockState.DATA && crc !== undefined) map.#crcs.set(block, crc);
    }
    return { map, clean };
  }

  get(block: number): BlockState {
    const page = this.#pages.get(Math.floor(block / PAGE_BLOCKS));
    return page ? (page[block % PAGE_BLOCKS]! as BlockState) : BlockState.LOWER;
  }

  set(block: number, state: BlockState): void {
    if (this.get(block) === state) return;
    this.#setPage(block, state);
    if (state !== BlockState.DATA) this.#crcs.delete(block);
    this.#pending.add(block);
  }

  /** A DATA block's checksum, as of the last flush (or as found at open). */
  crc(block: number): number | undefined {
    return this.#crcs.get(block);
  }

  /** Records a DATA block's checksum; persisted with the next flush. */
  setCrc(block: number, crc: number): void {
    if (this.#crcs.get(block) === crc && !this.#pending.has(block)) return;
    this.#crcs.set(block, crc);
    this.#pending.add(block);
  }

  /** Calls fn for each block in [first, last] that is not LOWER, in order. */
  forEachSet(first: number, last: number, fn: (block: number, state: BlockState) => void): void {
    const p0 = Math.floor(first / PAGE_BLOCKS);
    const p1 = Math.floor(last / PAGE_BLOCKS);
    const pages = p1 - p0 < 64 ? range(p0, p1).filter((p) => this.#pages.has(p)) : [...this.#pages.keys()].filter((p) => p >= p0 && p <= p1).sort((a, b) => a - b);
    for (const p of pages) {
      const page = this.#pages.get(p)!;
      const base = p * PAGE_BLOCKS;
      const to = Math.min(PAGE_BLOCKS - 1, last - base);
      for (let i = Math.max(0, first - base); i <= to; i++) if (page[i] !== 0) fn(base + i, page[i]! as BlockState);
    }
  }

  /** Appends the changes since the last persist and syncs them. */
  async persist(): Promise<void> {
    if (this.#pending.size === 0) return;
    const pending = this.#pending;
    this.#pending = new Set();
    await this.#append(Buffer.concat([...pending].map((b) => encodeEntry(b, this.get(b), this.#crcs.get(b) ?? 0))));
  }

  /** Persists what is pending and marks the map clean (every block matches its checksum), then closes it. */
  async close(o: { clean: boolean }): Promise<void> {
    try {
      if (o.clean) {
        await this.persist();
        await this.#append(encodeEntry(0, CLEAN, 0));
      }
    } finally {
      fs.closeSync(this.#fd);
    }
  }

  async #append(buf: Buffer): Promise<void> {
    const at = this.#logBytes;
    this.#logBytes += buf.length;
    await new Promise<void>((resolve, reject) => fs.write(this.#fd, buf, 0, buf.length, at, (err) => (err ? reject(err) : resolve())));
    await new Promise<void>((resolve, reject) => fs.fdatasync(this.#fd, (err) => (err ? reject(err) : resolve())));
  }

  #setPage(block: number, state: BlockState): void {
    const p = Math.floor(block / PAGE_BLOCKS);
    let page = this.#pages.get(p);
    if (!page) {
      if (state === BlockState.LOWER) return;
      this.#pages.set(p, (page = new Uint8Array(PAGE_BLOCKS)));
    }
    page[block % PAGE_BLOCKS] = state;
  }
}

/** The states and checksums a log holds, and whether its last entry is CLEAN. Throws OverlayCorruptError. */
function parse(file: string, log: Buffer): { states: Map<number, BlockState>; crcs: Map<number, number>; clean: boolean } {
  const states = new Map<number, BlockState>();
  const crcs = new Map<number, number>();
  // A map from before checksums starts with an entry, whose block number (u64 LE) never reaches the top bytes.
  const v2 = log.length < 8 || log[5] !== 0 || log[6] !== 0 || log[7] !== 0;
  if (v2 && (!log.subarray(0, MAGIC.length).equals(MAGIC) || log.length < HEADER_BYTES || crc32c(log.subarray(0, 12)) !== log.readUInt32LE(12) || log.readUInt32LE(8) !== 2)) {
    throw new OverlayCorruptError(file, 0, "the header is damaged or of an unknown version");
  }
  const entryBytes = v2 ? ENTRY_BYTES : V1_ENTRY_BYTES;
  const ok = (at: number) => crc32c(log.subarray(at, at + entryBytes - 4)) === log.readUInt32LE(at + entryBytes - 4);
  let clean = false;
  for (let at = v2 ? HEADER_BYTES : 0; at + entryBytes <= log.length; at += entryBytes) {
    if (!ok(at)) {
      // Only the end of the log can be torn (a flush cut short): a good entry after a bad one means damage.
      for (let later = at + entryBytes; later + entryBytes <= log.length; later += entryBytes) {
        if (ok(later)) throw new OverlayCorruptError(file, at, `entry ${(at - (v2 ? HEADER_BYTES : 0)) / entryBytes} fails its checksum, and a later one is whole`);
      }
      return { states, crcs, clean: false };
    }
    const state = log[at + 8]!;
    clean = state === CLEAN;
    if (clean) continue;
    if (state > BlockState.ZERO) throw new OverlayCorruptError(file, at, `an entry has unknown state ${state}`);
    const block = readU64(log, at);
    states.set(block, state as BlockState);
    if (v2 && state === BlockState.DATA) crcs.set(block, log.readUInt32LE(at + 12));
    else crcs.delete(block);
  }
  return { states, crcs, clean: v2 && clean };
}

function encodeHeader(): Buffer {
  const b = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(b, 0);
  b.writeUInt32LE(2, 8);
  b.writeUInt32LE(crc32c(b.subarray(0, 12)), 12);
  return b;
}

function encodeEntry(block: number, state: number, crc: number): Buffer {
  const b = Buffer.alloc(ENTRY_BYTES);
  writeU64(b, 0, block);
  b[8] = state;
  b.writeUInt32LE(crc >>> 0, 12);
  b.writeUInt32LE(crc32c(b.subarray(0, 16)), 16);
  return b;
}

function range(from: number, to: number): number[] {
  const out: number[] = [];
  for (let i = from; i <= to; i++) out.push(i);
  return out;
}
