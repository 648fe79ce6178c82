/**
 * A group's outgoing stream: the records not yet acknowledged by the recovery
 * site, in seq order, without gaps, bounded in bytes. The splitter appends,
 * the sender reads from wherever its connection got to, and ACKs trim the
 * front. A sync block is appended with its seq before its data is read (so
 * that it takes its place in the order under the range lock) and becomes
 * ready later; the sender never passes an entry that is not ready.
 */
import { recordDataBytes, type StreamRecord } from "./frames.js";
import { RecordSlabs } from "./record-slabs.js";

/** Bytes counted per entry on top of its data: what the entry costs in memory and on the wire. */
export const ENTRY_OVERHEAD_BYTES = 64;

export interface StreamEntry {
  seq: number;
  /** Arrival time at the source (the record's time). */
  timeMs: number;
  /** For the bitmap when the stream overflows; disk -1 for checkpoints. */
  disk: number;
  offset: number;
  length: number;
  /** Undefined until a sync block's data is read. */
  record: StreamRecord | undefined;
  /** What the entry counts against the limit; set again from the record when it becomes ready. */
  bytes: number;
  /** A sync block: counted in the sync's share of the stream as well. */
  sync?: true;
}

export class OutgoingStream {
  readonly limitBytes: number;
  #entries: StreamEntry[] = [];
  #head = 0;
  #bytes = 0;
  /** Bytes of the sync blocks among the entries (at most half the limit: see whenSyncRoom). */
  #syncBytes = 0;
  /** The seq the recovery site holds durably, with everything before it. */
  #ackedSeq: number;
  #listeners = new Set<() => void>();
  #roomWaiters: { bytes: number; resolve: () => void }[] = [];
  /** The copies of written data the entries carry, freed as ACKs and resets drop them. */
  readonly #slabs: RecordSlabs;

  constructor(limitBytes: number, ackedSeq = 0) {
    this.limitBytes = limitBytes;
    this.#ackedSeq = ackedSeq;
    this.#slabs = new RecordSlabs(limitBytes);
  }

  /** A copy of a write's data for the entry `seq` about to be pushed (the caller's buffer is reused once the write resolves). */
  copy(data: Buffer, seq: number): Buffer {
    return this.#slabs.copy(data, seq);
  }

  get bytes(): number {
    return this.#bytes;
  }

  get syncBytes(): number {
    return this.#syncBytes;
  }

  get length(): number {
    return this.#entries.length - this.#head;
  }

  get ackedSeq(): number {
    return this.#ackedSeq;
  }

  /** The seq the next entry must have. */
  get nextSeq(): number {
    return this.#ackedSeq + this.length + 1;
  }

  /** Whether `bytes` more fit under the limit. */
  fits(bytes: number): boolean {
    return this.#bytes + bytes <= this.limitBytes;
  }

  push(entry: StreamEntry): void {
    if (entry.seq !== this.nextSeq) throw new Error(`stream entry ${entry.seq} out of order (next is ${this.nextSeq})`);
    this.#entries.push(entry);
    this.#bytes += entry.bytes;
    if (entry.sync) this.#syncBytes += entry.bytes;
    if (entry.record) this.#notify();
  }

  /**
   * An entry's record is ready (a sync block read, a write whose extent is
   * now hot). Its cost is counted again from the record: a sync block found
   * all zeroes travels as a flag and frees its room at once.
   */
  ready(entry: StreamEntry, record: StreamRecord): void {
    const bytes = recordDataBytes(record) + ENTRY_OVERHEAD_BYTES;
    if (bytes !== entry.bytes && this.get(entry.seq) === entry) {
      this.#bytes += bytes - entry.bytes;
      if (entry.sync) this.#syncBytes += bytes - entry.bytes;
      if (bytes < entry.bytes) this.#wakeRoom();
    }
    entry.bytes = bytes;
    entry.record = record;
    this.#notify();
  }

  /** Entry with `seq`, if still queued. */
  get(seq: number): StreamEntry | undefined {
    const i = this.#head + (seq - this.#ackedSeq - 1);
    return i >= this.#head && i < this.#entries.length ? this.#entries[i] : undefined;
  }

  /** The oldest unacknowledged entry that carries data (not a checkpoint): what RPO is measured from. */
  oldestUnacked(): StreamEntry | undefined {
    for (let i = this.#head; i < this.#entries.length; i++) if (this.#entries[i]!.disk >= 0) return this.#entries[i];
    return undefined;
  }

  /** The recovery site holds everything through `seq` durably. */
  ack(seq: number): void {
    while (this.#ackedSeq < seq && this.#head < this.#entries.length) {
      const e = this.#entries[this.#head]!;
      this.#bytes -= e.bytes;
      if (e.sync) this.#syncBytes -= e.bytes;
      this.#entries[this.#head] = undefined as unknown as StreamEntry;
      this.#head++;
      this.#ackedSeq++;
    }
    this.#slabs.release(this.#ackedSeq);
    if (this.#head > 1024 && this.#head * 2 > this.#entries.length) {
      this.#entries = this.#entries.slice(this.#head);
      this.#head = 0;
    }
    this.#wakeRoom();
  }

  /**
   * Drops every queued entry and restarts numbering after `ackedSeq`; returns
   * what was dropped. Their copies are free at once: the caller hangs up the
   * connection that was sending them before anything is copied again.
   */
  reset(ackedSeq: number): StreamEntry[] {
    const dropped = this.#entries.slice(this.#head);
    this.#entries = [];
    this.#head = 0;
    this.#bytes = 0;
    this.#syncBytes = 0;
    this.#ackedSeq = ackedSeq;
    this.#slabs.reset();
    this.#wakeRoom();
    return dropped;
  }

  /**
   * Resolves when `bytes` more of sync blocks fit: under the limit, and with
   * the sync blocks at most half of it, so that new writes keep flowing
   * during a long sync, and a sync keeps moving however busy the writes are.
   */
  whenSyncRoom(bytes: number): Promise<void> {
    if (this.#syncFits(bytes)) return Promise.resolve();
    return new Promise((resolve) => this.#roomWaiters.push({ bytes, resolve }));
  }

  #syncFits(bytes: number): boolean {
    return this.#bytes + bytes <= this.limitBytes && this.#syncBytes + bytes <= this.limitBytes / 2;
  }

  /** Called on every append and every sync block made ready (the sender's wake-up). */
  onReady(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #notify(): void {
    for (const l of this.#listeners) l();
  }

  #wakeRoom(): void {
    if (this.#roomWaiters.length === 0) return;
    const still: { bytes: number; resolve: () => void }[] = [];
    for (const w of this.#roomWaiters) {
      if (this.#syncFits(w.bytes)) w.resolve();
      else still.push(w);
    }
    this.#roomWaiters = still;
  }
}
