/** Shared bits of the journal tests: temp directories and a model of the disks. */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `lifeline-${prefix}-`));
}

export type ModelOp =
  | { seq: number; kind: "write"; disk: string; offset: number; data: Buffer }
  | { seq: number; kind: "zero"; disk: string; offset: number; length: number }
  | { seq: number; kind: "checkpoint" };

/** The expected disks: every op in seq order, replayed on demand. */
export class DiskModel {
  readonly sizes: Map<string, number>;
  ops: ModelOp[] = [];

  constructor(sizes: Map<string, number>) {
    this.sizes = sizes;
  }

  image(disk: string, seq: number): Buffer {
    const img = Buffer.alloc(this.sizes.get(disk)!);
    for (const op of this.ops) {
      if (op.seq > seq) break;
      if (op.kind === "write" && op.disk === disk) op.data.copy(img, op.offset);
      else if (op.kind === "zero" && op.disk === disk) img.fill(0, op.offset, op.offset + op.length);
    }
    return img;
  }

  /** Forgets ops after `seq` (a torn tail cut them). */
  cut(seq: number): void {
    this.ops = this.ops.filter((o) => o.seq <= seq);
  }
}

/** Bytes derived from a seed, so that every write is distinguishable. */
export function pattern(length: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(length);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}
