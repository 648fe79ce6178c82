/**
 * An overlay's allocation map: for each block, whether it reads from the
 * lower device, from the scratch file, or as zeroes. Kept in memory as sparse
 * pages of one byte per block (a 1 TiB disk with nothing written costs
 * nothing), and on disk as an append-only log of changes: each flush appends
 * the changes since the last and syncs, so a crash loses only what was not
 * flushed. Each entry has its own checksum; a torn end (bad entries with no
 * good one after them) is dropped, a bad entry before a good one is
 * corruption and the open fails rather than read the overlay's blocks from
 * below. (A damaged last entry looks like a torn one: the format cannot tell
 * them apart.) The log is rewritten (atomically) at open when it has grown
 * much longer than the map.
 */
import fs from "node:fs";
import { crc32c } from "@node-rs/crc32";
import { writeFileAtomic } from "./atomic-file.js";
import { OverlayCorruptError } from "./errors.js";
import { readU64, writeU64 } from "./record.js";

export const BlockState = { LOWER: 0, DATA: 1, ZERO: 2 } as const;
export type BlockState = (typeof BlockState)[keyof typeof BlockState];

const PAGE_BLOCKS = 4096;
const ENTRY_BYTES = 16;

export class AllocMap {
  readonly path: string;
  readonly #pages = new Map<number, Uint8Array>();
  #pending = new Map<number, BlockState>();
  #fd: number;
  #logBytes: number;

  private constructor(file: string, fd: number, logBytes: number) {
    this.path = file;
    this.#fd = fd;
    this.#logBytes = logBytes;
  }

  static async open(file: string): Promise<AllocMap> {
    let log: Buffer;
    let exists = true;
    try {
      log = await fs.promises.readFile(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      log = Buffer.alloc(0);
      exists = false;
    }
    const states = new Map<number, BlockState>();
    let valid = 0;
    for (let at = 0; at + ENTRY_BYTES <= log.length; at += ENTRY_BYTES) {
      if (!entryOk(log, at)) {
        // Only the end of the log can be torn (a flush cut short): a good entry after a bad one means damage.
        for (let later = at + ENTRY_BYTES; later + ENTRY_BYTES <= log.length; later += ENTRY_BYTES) {
          if (entryOk(log, later)) throw new OverlayCorruptError(file, at, `entry ${at / ENTRY_BYTES} fails its checksum, and entry ${later / ENTRY_BYTES} after it is whole`);
        }
        break;
      }
      const state = log[at + 8]!;
      if (state > BlockState.ZERO) throw new OverlayCorruptError(file, at, `entry ${at / ENTRY_BYTES} has unknown state ${state}`);
      states.set(readU64(log, at), state as BlockState);
      valid = at + ENTRY_BYTES;
    }
    const live = [...states].filter(([, s]) => s !== BlockState.LOWER);
    if (!exists || valid !== log.length || valid > 2 * live.length * ENTRY_BYTES + 65536) {
      await writeFileAtomic(file, Buffer.concat(live.map(([b, s]) => encodeEntry(b, s))));
      valid = live.length * ENTRY_BYTES;
    }
    const fd = fs.openSync(file, "r+");
    const map = new AllocMap(file, fd, valid);
    for (const [block, state] of live) map.#setPage(block, state);
    return map;
  }

  get(block: number): BlockState {
    const page = this.#pages.get(Math.floor(block / PAGE_BLOCKS));
    return page ? (page[block % PAGE_BLOCKS]! as BlockState) : BlockState.LOWER;
  }

  set(block: number, state: BlockState): void {
    if (this.get(block) === state) return;
    this.#setPage(block, state);
    this.#pending.set(block, state);
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
    this.#pending = new Map();
    const buf = Buffer.concat([...pending].map(([b, s]) => encodeEntry(b, s)));
    const at = this.#logBytes;
    this.#logBytes += buf.length;
    await new Promise<void>((resolve, reject) => fs.write(this.#fd, buf, 0, buf.length, at, (err) => (err ? reject(err) : resolve())));
    await new Promise<void>((resolve, reject) => fs.fdatasync(this.#fd, (err) => (err ? reject(err) : resolve())));
  }

  close(): void {
    fs.closeSync(this.#fd);
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

function entryOk(log: Buffer, at: number): boolean {
  return crc32c(log.subarray(at, at + 12)) === log.readUInt32LE(at + 12);
}

function encodeEntry(block: number, state: BlockState): Buffer {
  const b = Buffer.alloc(ENTRY_BYTES);
  writeU64(b, 0, block);
  b[8] = state;
  b.writeUInt32LE(crc32c(b.subarray(0, 12)), 12);
  return b;
}

function range(from: number, to: number): number[] {
  const out: number[] = [];
  for (let i = from; i <= to; i++) out.push(i);
  return out;
}
