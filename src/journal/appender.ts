/**
 * Group commit for the journal. Appends queue up; one batch at a time is
 * written and made durable (one writev on a segment opened O_DSYNC: a single
 * trip to the thread pool instead of a write and an fdatasync), and every
 * append in it resolves together. Appends made while a batch is in flight form the
 * next one, so the sync rate adapts to the load (≈ 30 k durable acks/s
 * against ≈ 9 k with a sync per write, in our measurements).
 *
 * Batches never overlap and never span two segments, so after a crash only
 * the tail of the last segment, at most one batch long, can be torn, and only
 * records never reported durable: with the durable mark (durable-mark.ts),
 * that is what lets the open tell a torn tail from corruption (fault-rule.ts).
 * The mark is written beside this path, never in it: no extra sync per batch.
 * A failed write fails the journal for good: after a failed synchronous write
 * the page cache can no longer be trusted to hold what we wrote (fsyncgate).
 */
import { HEADER_BYTES, MAX_PAYLOAD_BYTES, type RecordType, writeHeader } from "./record.js";
import { Segment } from "./segment.js";
import { JournalClosedError, JournalError } from "./errors.js";

/** A batch holds at most this much, or one record when that is larger. */
export const MAX_BATCH_BYTES = 8 * 1024 * 1024;
/** How far from a last segment's end a bad record may be and still be a torn tail (if it is above the durable floor too). */
export const TORN_WINDOW_BYTES = MAX_BATCH_BYTES + HEADER_BYTES + MAX_PAYLOAD_BYTES;

const SLAB_BYTES = 1 << 20;
const SLAB_RECORD_BYTES = 64 * 1024;

export interface PendingRecord {
  seq: number;
  type: RecordType;
  flags: number;
  disk: number;
  timeMs: number;
  offset: number;
  length: number;
  checkpoint: { id: string; tag: string | undefined; consistent: boolean } | undefined;
  /** The payload's crc32c (0 without one); the header is written from these fields at batch time. */
  dcrc: number;
  payload: Buffer | undefined;
  resolve: () => void;
  reject: (err: Error) => void;
}

export interface AppenderOptions {
  dir: string;
  /** Segments in seq order; the last one is the one appended to. Shared with the journal. */
  segments: Segment[];
  /** Where a segment rolls; asked at each batch, so a new journal limit takes effect at once. */
  segmentBytes: () => number;
  /** Called for each record once it is written (readable), before it is durable. */
  onWritten: (records: PendingRecord[], firstPos: number) => void;
  onDurable: (seq: number) => void;
}

export class Appender {
  readonly #o: AppenderOptions;
  #queue: PendingRecord[] = [];
  #running = false;
  #scheduled = false;
  #failure: Error | undefined;
  #idle: (() => void)[] = [];
  /** Reused for every batch: batches never overlap. */
  #slab = Buffer.allocUnsafeSlow(SLAB_BYTES);

  constructor(options: AppenderOptions) {
    this.#o = options;
  }

  get failure(): Error | undefined {
    return this.#failure;
  }

  enqueue(record: PendingRecord): void {
    if (this.#failure) {
      record.reject(new JournalClosedError("the journal failed earlier and takes no more appends", { cause: this.#failure }));
      return;
    }
    this.#queue.push(record);
    // Start on the next microtask, so that appends made in the same tick share a batch.
    if (!this.#running && !this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(() => {
        this.#scheduled = false;
        if (!this.#running) void this.#run();
      });
    }
  }

  /** Resolves when everything queued so far is durable (or failed). */
  drain(): Promise<void> {
    if (!this.#running && !this.#scheduled && this.#queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  async #run(): Promise<void> {
    this.#running = true;
    try {
      while (this.#queue.length > 0 && !this.#failure) await this.#writeBatch();
    } finally {
      this.#running = false;
      const idle = this.#idle;
      this.#idle = [];
      for (const done of idle) done();
    }
  }

  async #writeBatch(): Promise<void> {
    const segments = this.#o.segments;
    let seg = segments[segments.length - 1];
    const first = this.#queue[0]!;
    const firstBytes = recordBytes(first);
    const rollBytes = this.#o.segmentBytes();
    try {
      if (!seg || (seg.lastSeq >= seg.firstSeq && seg.sizeBytes + firstBytes > rollBytes)) {
        seg = await Segment.create(this.#o.dir, first.seq);
        segments.push(seg);
      }
    } catch (err) {
      this.#fail(err);
      return;
    }
    // The batch: queued records up to MAX_BATCH_BYTES (at least one), in this segment.
    let bytes = 0;
    let slabBytes = 0;
    let n = 0;
    for (const r of this.#queue) {
      const size = recordBytes(r);
      if (n > 0 && (bytes + size > MAX_BATCH_BYTES || seg.sizeBytes + bytes + size > rollBytes)) break;
      slabBytes += size <= SLAB_RECORD_BYTES ? size : HEADER_BYTES;
      bytes += size;
      n++;
    }
    // Every header, and small records whole, are written into one slab: a
    // writev of many small pieces cost more than the copy in our measurements,
    // and a Buffer per header cost more than writing it in place. Large
    // payloads go as they are. The slab grows (once) for groups that send many
    // small writes at a time.
    if (slabBytes > this.#slab.length) this.#slab = Buffer.allocUnsafeSlow(Math.max(slabBytes, MAX_BATCH_BYTES));
    const slab = this.#slab;
    const buffers: Buffer[] = [];
    /** Where the slab's current run (not yet in `buffers`) starts. */
    let runFrom = 0;
    let slabAt = 0;
    for (let i = 0; i < n; i++) {
      const r = this.#queue[i]!;
      const payloadBytes = r.payload ? r.payload.length : 0;
      writeHeader(slab, slabAt, r, payloadBytes, r.dcrc);
      slabAt += HEADER_BYTES;
      if (payloadBytes === 0) continue;
      if (HEADER_BYTES + payloadBytes <= SLAB_RECORD_BYTES) {
        r.payload!.copy(slab, slabAt);
        slabAt += payloadBytes;
      } else {
        buffers.push(slab.subarray(runFrom, slabAt), r.payload!);
        runFrom = slabAt;
      }
    }
    if (slabAt > runFrom) buffers.push(slab.subarray(runFrom, slabAt));
    const batch = this.#queue.length === n ? this.#queue : this.#queue.slice(0, n);
    this.#queue = this.#queue.length === n ? [] : this.#queue.slice(n);
    const pos = seg.sizeBytes;
    try {
      await seg.writev(buffers, pos);
      seg.sizeBytes = pos + bytes;
      seg.lastSeq = batch[batch.length - 1]!.seq;
      // The segment is written O_DSYNC (segment.ts): the batch is durable now.
      this.#o.onWritten(batch, pos);
    } catch (err) {
      for (const r of batch) r.reject(wrap(err));
      this.#fail(err);
      return;
    }
    seg.durableSeq = batch[batch.length - 1]!.seq;
    seg.durableBytes = pos + bytes;
    this.#o.onDurable(seg.durableSeq);
    for (const r of batch) r.resolve();
  }

  #fail(err: unknown): void {
    this.#failure = wrap(err);
    for (const r of this.#queue) r.reject(this.#failure);
    this.#queue = [];
  }
}

function recordBytes(r: PendingRecord): number {
  return HEADER_BYTES + (r.payload ? r.payload.length : 0);
}

function wrap(err: unknown): Error {
  if (err instanceof JournalError) return err;
  return new JournalError(`journal write failed: ${err instanceof Error ? err.message : String(err)}`, {
    cause: err,
    hint: "check the file system holding the journal; the journal must be reopened",
  });
}
