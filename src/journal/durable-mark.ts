/**
 * `journal/durable.mark`: a lower bound of what the journal holds durably,
 * so that the open can tell a torn tail from corruption by seq rather than by
 * distance from the end.
 *
 * Why it exists: a crash can only tear records that were never reported
 * durable (the batch being written when the process died). Checksums alone
 * cannot tell that batch from a durable record damaged later: both are "a bad
 * record near the end of the last segment", and cutting the second loses
 * writes that replication had acknowledged. The mark says "every seq through
 * N was durable": a fault at or before N is corruption wherever it is; only a
 * fault after N may be a torn tail.
 *
 * It is only ever a lower bound, never ahead of the segments: the seq written
 * is one that was already durable when the write began. It is updated in the
 * background at most once per `everyMs` while appends go on, after each index
 * snapshot, at a writable open (after the last segment is synced) and at
 * close. It is off the append path: no fsync per batch. Losing an update (a
 * crash before it lands) only makes the bound older: less strict, still true.
 *
 * Written through writeFileAtomic, so a reader sees the old mark or the new
 * one. Layout, 40 bytes: "LLJMARK1", u64 seq, u64 first seq of the segment
 * holding that seq (0: none), u64 bytes of that segment durable then, u32
 * crc32c of the 32 bytes before it, 4 zero bytes.
 */
import fs from "node:fs/promises";
import { crc32c } from "../checksum/index.js";
import { writeFileAtomic } from "./atomic-file.js";
import { JournalError } from "./errors.js";
import { readU64, writeU64 } from "./record.js";
import { type Segment, segmentFileName } from "./segment.js";

export const DURABLE_MARK_FILE = "durable.mark";
const MAGIC = Buffer.from("LLJMARK1", "latin1");
const MARK_BYTES = 40;

export interface DurableMark {
  /** Every seq through this one was durable. */
  seq: number;
  /** First seq of the segment that held `seq` (0 when no segment did), and its durable bytes then. */
  segmentFirstSeq: number;
  segmentBytes: number;
}

export function encodeDurableMark(m: DurableMark): Buffer {
  const b = Buffer.alloc(MARK_BYTES);
  MAGIC.copy(b, 0);
  writeU64(b, 8, m.seq);
  writeU64(b, 16, m.segmentFirstSeq);
  writeU64(b, 24, m.segmentBytes);
  b.writeUInt32LE(crc32c(b.subarray(0, 32)), 32);
  return b;
}

/** The mark, or why these bytes are not one. */
export function decodeDurableMark(b: Buffer): DurableMark | string {
  if (b.length !== MARK_BYTES) return `${b.length} bytes, not ${MARK_BYTES}`;
  if (!b.subarray(0, 8).equals(MAGIC)) return "bad magic";
  if (crc32c(b.subarray(0, 32)) !== b.readUInt32LE(32)) return "checksum mismatch";
  return { seq: readU64(b, 8), segmentFirstSeq: readU64(b, 16), segmentBytes: readU64(b, 24) };
}

/** The mark for durable seq `seq`: where it ends, in the segment holding it. */
export function markAt(seq: number, segments: readonly Segment[]): DurableMark {
  for (let i = segments.length - 1; i >= 0; i--) {
    const s = segments[i]!;
    if (s.firstSeq <= seq && s.durableSeq >= s.firstSeq) return { seq, segmentFirstSeq: s.firstSeq, segmentBytes: s.durableBytes };
  }
  return { seq, segmentFirstSeq: 0, segmentBytes: 0 };
}

/** How a fault message names the mark: "seq 601 was reported durable (durable.mark: …seg to byte 4190208)". */
export function describeMark(m: DurableMark): string {
  const where = m.segmentFirstSeq > 0 ? `: ${segmentFileName(m.segmentFirstSeq)} to byte ${m.segmentBytes}` : "";
  return `seq ${m.seq} was reported durable (${DURABLE_MARK_FILE}${where})`;
}

/**
 * Reads the mark; undefined when there is none (a journal from before marks,
 * or one never opened for writing). A damaged mark is an error, not a reason
 * to fall back silently to trusting checksums alone.
 */
export async function readDurableMark(file: string): Promise<DurableMark | undefined> {
  let b: Buffer;
  try {
    b = await fs.readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  const mark = decodeDurableMark(b);
  if (typeof mark === "string") {
    throw new JournalError(`${file} is damaged (${mark})`, {
      hint: `run \`lifeline journal verify\`; if the segments are sound, remove ${DURABLE_MARK_FILE} and open again (a bad record near the end is then taken for a torn tail)`,
    });
  }
  return mark;
}

export interface DurableMarkWriterOptions {
  file: string;
  /** Least time between background updates; 0: only when write() is called. */
  everyMs: number;
  /** The journal's durable point now. */
  current: () => DurableMark;
  onError: (err: Error) => void;
}

/** Keeps the mark file up to date, one write at a time, never moving it back. */
export class DurableMarkWriter {
  readonly #o: DurableMarkWriterOptions;
  #writtenSeq: number;
  #chain: Promise<unknown> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  /** `writtenSeq`: the seq the file holds now (-1 when there is none). */
  constructor(options: DurableMarkWriterOptions, writtenSeq: number) {
    this.#o = options;
    this.#writtenSeq = writtenSeq;
  }

  /** After a batch is durable: an update within `everyMs`, in the background (a trailing timer, so the last batch of a burst is marked too). */
  noteDurable(): void {
    if (this.#o.everyMs <= 0 || this.#timer || this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.write().catch((err: unknown) => this.#o.onError(err instanceof Error ? err : new Error(String(err))));
    }, this.#o.everyMs);
    this.#timer.unref();
  }

  /** Writes the durable point as it is when this write's turn comes; resolves once it is on disk. */
  write(): Promise<void> {
    const run = this.#chain.then(async () => {
      const mark = this.#o.current();
      if (mark.seq <= this.#writtenSeq) return;
      await writeFileAtomic(this.#o.file, encodeDurableMark(mark));
      this.#writtenSeq = mark.seq;
    });
    this.#chain = run.catch(() => undefined);
    return run;
  }

  /** No more background updates; waits for the one in flight. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#chain;
  }
}
