/**
 * What the torture's writer did, kept so that any image can be judged.
 *
 * Every 4 KiB block the writer puts down describes itself: a magic, its disk,
 * its block number and the id of the write, then a body that follows from
 * those three. Writes are issued one at a time in id order, across all the
 * group's disks, so a consistent point of the group is a prefix of the
 * writes: some cut C such that the image holds exactly writes 0..C-1. The
 * highest write id in an image tells C (the last write of a prefix cannot
 * have been overwritten), and then every block must hold what the prefix put
 * there. A block from beyond the cut, a block an earlier write should have
 * replaced, a torn or foreign block: each is named with its disk and offset.
 */
export const BLOCK = 4096;
const MAGIC = 0x4c4c5457; // "LLTW"
const HEADER = 20;

export interface DiskShape {
  /** The export's name, e.g. erp/db/data. */
  name: string;
  sizeBytes: number;
}

export class JudgeError extends Error {}

export class WriteHistory {
  readonly disks: readonly DiskShape[];
  /** Per disk, per block: the ids of the writes that covered it, ascending. */
  readonly #writers: number[][][];
  #count = 0;

  constructor(disks: readonly DiskShape[]) {
    this.disks = disks;
    this.#writers = disks.map((d) => Array.from({ length: d.sizeBytes / BLOCK }, () => []));
  }

  /** Writes issued so far (ids 0..count-1). */
  get count(): number {
    return this.#count;
  }

  /** Records a write about to be issued and returns its id and bytes. */
  issue(disk: number, firstBlock: number, blocks: number): { id: number; data: Buffer } {
    const id = this.#count++;
    const data = Buffer.allocUnsafe(blocks * BLOCK);
    for (let i = 0; i < blocks; i++) {
      this.#writers[disk]![firstBlock + i]!.push(id);
      fillBlock(data.subarray(i * BLOCK, (i + 1) * BLOCK), disk, firstBlock + i, id);
    }
    return { id, data };
  }

  /**
   * The cut an image of every disk is the prefix of, checked block by block;
   * it must lie within [lo, hi] (what was acknowledged before the point was
   * asked for, what had been issued when it was answered).
   */
  judge(images: readonly Buffer[], bounds: { lo: number; hi: number }, what: string): number {
    let highest = -1;
    const found = images.map((image, disk) => {
      const ids = new Int32Array(image.length / BLOCK);
      for (let b = 0; b < ids.length; b++) {
        ids[b] = readBlock(image.subarray(b * BLOCK, (b + 1) * BLOCK), disk, b, () => `${what}: ${this.disks[disk]!.name} offset ${b * BLOCK}`);
        if (ids[b]! > highest) highest = ids[b]!;
      }
      return ids;
    });
    const cut = highest + 1;
    if (cut < bounds.lo) throw new JudgeError(`${what}: holds writes up to ${cut}, but ${bounds.lo} were acknowledged before it was taken (acknowledged writes lost)`);
    if (cut > bounds.hi) throw new JudgeError(`${what}: holds write ${highest}, which had not been issued when it was taken`);
    for (let disk = 0; disk < found.length; disk++) {
      const ids = found[disk]!;
      for (let b = 0; b < ids.length; b++) {
        const want = lastBelow(this.#writers[disk]![b]!, cut);
        if (ids[b] !== want) {
          const where = `${this.disks[disk]!.name} offset ${b * BLOCK}`;
          throw new JudgeError(
            ids[b]! < want
              ? `${what}: ${where} holds ${ids[b]! < 0 ? "zeros" : `write ${ids[b]}`}, but write ${want} (before the cut at ${cut}) replaced it: a write is missing or out of order`
              : `${what}: ${where} holds write ${ids[b]}, but that block's last write before the cut at ${cut} is ${want}`,
          );
        }
      }
    }
    return cut;
  }
}

/** The largest id in ascending `ids` below `cut`, or -1 (a block never written: zeros). */
function lastBelow(ids: number[], cut: number): number {
  const n = countBelow(ids, cut);
  return n === 0 ? -1 : ids[n - 1]!;
}

/** How many of the ascending `values` are below `limit`. */
export function countBelow(values: readonly number[], limit: number): number {
  let lo = 0;
  let hi = values.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (values[mid]! < limit) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function fillBlock(b: Buffer, disk: number, block: number, id: number): void {
  b.writeUInt32LE(MAGIC, 0);
  b.writeUInt32LE(disk, 4);
  b.writeUInt32LE(block, 8);
  b.writeDoubleLE(id, 12);
  let x = (Math.imul(id + 1, 0x9e3779b1) ^ Math.imul(block + 1, 0x85ebca6b) ^ (disk + 1)) >>> 0 || 1;
  for (let o = HEADER; o < BLOCK; o += 4) {
    // xorshift32: the body follows from the header, so a torn or shifted block shows.
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b.writeUInt32LE(x >>> 0, o);
  }
}

const scratch = Buffer.alloc(BLOCK);

/** The id of the write a block holds (-1 for zeros), or a JudgeError naming the place. */
function readBlock(b: Buffer, disk: number, block: number, where: () => string): number {
  if (b.readUInt32LE(0) !== MAGIC) {
    if (b.every((x) => x === 0)) return -1;
    throw new JudgeError(`${where()}: holds bytes no write put there`);
  }
  const id = b.readDoubleLE(12);
  if (b.readUInt32LE(4) !== disk || b.readUInt32LE(8) !== block || !Number.isInteger(id) || id < 0) {
    throw new JudgeError(`${where()}: holds a block written for disk ${b.readUInt32LE(4)} block ${b.readUInt32LE(8)} (misplaced)`);
  }
  fillBlock(scratch, disk, block, id);
  if (!scratch.equals(b)) throw new JudgeError(`${where()}: write ${id} there is torn or damaged`);
  return id;
}
