/**
 * The splitter's heart at the protected site: one protection group's disks,
 * its one seq counter, range locks, outgoing stream, dirty bitmaps and
 * checkpoints. Every WRITE, WRITE_ZEROES and TRIM of every disk and every NBD
 * connection of the group passes `begin` synchronously, on one event loop, so
 * the stream's order is arrival order: a total order across the group that
 * respects every dependency a guest can see (it only sees a write once it got
 * the reply, and the reply comes after `begin`).
 *
 * Seqs are assigned when a record enters the stream, so the stream has no
 * gaps even after an overflow: while tracking, no seq is given out, and the
 * count restarts after the recovery site's durable seq at the next contact.
 */
import { randomUUID } from "node:crypto";
import type { BlockDevice } from "../blockdev/index.js";
import { ActivityLog } from "./activity-log.js";
import { BlockSync } from "./block-sync.js";
import { DEFAULT_BLOCK_BYTES, DirtyBitmap } from "./bitmap.js";
import { Emitter, type GroupStatus, type ReplicationEvent } from "./events.js";
import type { DiskSpec, StreamRecord } from "./frames.js";
import { type GroupInput, type GroupState, formatBytes, formatDuration, nextState } from "./group-state.js";
import { ENTRY_OVERHEAD_BYTES, OutgoingStream, type StreamEntry } from "./outgoing-stream.js";
import { type Held, RangeLock } from "./range-lock.js";
import { SplitterDevice } from "./splitter-device.js";

export interface ProtectedGroupOptions {
  name: string;
  disks: { name: string; store: BlockDevice }[];
  /** Default 256 MiB. */
  streamLimitBytes?: number;
  /** Default 1 s; 100 ms to 60 s; 0 turns the timer off (tests take checkpoints by hand). */
  checkpointIntervalMs?: number;
  /** Dirty bitmap block; default 64 KiB. */
  blockBytes?: number;
  /** Copy the disks' existing data first (sparse-aware): an initial sync. Used by `open`. */
  initialSync?: boolean;
  /** The recovery site holds a copy already: compare block hashes first, send only what differs. Used by `open`. */
  deltaSync?: boolean;
  /** Crash safety at the source: the activity log's file. Used by `open`. */
  activityLogFile?: string;
  activityLog?: ActivityLog;
  /** Why the group starts tracking (set by `open`). */
  startReason?: string;
}

export interface CheckpointResult {
  /** Undefined when the group is tracking (no stream to put it in). */
  seq: number | undefined;
  id: string;
  tag: string | undefined;
  timeMs: number;
  consistent: boolean;
}

export interface DiskState {
  index: number;
  spec: DiskSpec;
  store: BlockDevice;
  lock: RangeLock;
  bitmap: DirtyBitmap;
}

export type WriteKind = "write" | "zero" | "trim";

export class ProtectedGroup {
  readonly name: string;
  readonly stream: OutgoingStream;
  readonly events = new Emitter<ReplicationEvent>();
  readonly #disks: DiskState[];
  readonly #devices = new Map<string, SplitterDevice>();
  readonly #sync: BlockSync;
  readonly #al: ActivityLog | undefined;
  #state: GroupState;
  #timer: NodeJS.Timeout | undefined;
  #coolTimer: NodeJS.Timeout | undefined;
  /** Set while the recovery site has no consistent point newer than this time. */
  #inconsistentSinceMs: number | undefined;
  /** The recovery site is consistent again once it holds this seq. */
  #consistentAtSeq: number | undefined;
  #closed = false;
  #deltaPending = false;

  constructor(options: ProtectedGroupOptions) {
    this.name = options.name;
    const blockBytes = options.blockBytes ?? DEFAULT_BLOCK_BYTES;
    this.stream = new OutgoingStream(options.streamLimitBytes ?? 256 * 1024 * 1024);
    this.#disks = options.disks.map((d, index) => ({
      index,
      spec: { name: d.name, sizeBytes: d.store.size },
      store: d.store,
      lock: new RangeLock(),
      bitmap: new DirtyBitmap(d.store.size, blockBytes),
    }));
    for (const d of this.#disks) this.#devices.set(d.spec.name, new SplitterDevice(this, d));
    const now = Date.now();
    this.#al = options.activityLog;
    this.#state = { kind: "tracking", reason: options.startReason ?? "not yet in contact with the recovery site", sinceMs: now };
    this.#inconsistentSinceMs = now;
    this.#sync = new BlockSync(this, this.#disks);
    const interval = options.checkpointIntervalMs ?? 1000;
    if (interval !== 0) {
      if (interval < 100 || interval > 60_000) throw new RangeError(`checkpointInterval of ${interval} ms is outside 100 ms to 60 s`);
      this.#timer = setInterval(() => void this.checkpoint(), interval);
    }
    if (this.#al) this.#coolTimer = setInterval(() => void this.#cool(), 1000);
  }

  /**
   * Opens a group with its activity log: extents left hot by a crash are
   * resynced; with `initialSync`, the disks' existing data is sent first.
   */
  static async open(options: ProtectedGroupOptions): Promise<ProtectedGroup> {
    const specs = options.disks.map((d) => ({ name: d.name, sizeBytes: d.store.size }));
    const opened = options.activityLogFile ? await ActivityLog.open(options.activityLogFile, specs) : undefined;
    const hotBytes = opened?.hot.reduce((n, h) => n + h.length, 0) ?? 0;
    const startReason = hotBytes > 0
      ? `the protected appliance stopped uncleanly; resyncing ${opened!.hot.length} hot extents (${formatBytes(hotBytes)})`
      : options.deltaSync ? "delta sync against the recovery site's copy"
      : options.initialSync ? "initial sync of the disks' existing data" : undefined;
    const g = new ProtectedGroup({ ...options, activityLog: opened?.log, ...(startReason ? { startReason } : {}) });
    for (const h of opened?.hot ?? []) g.#disks[h.disk]!.bitmap.mark(h.offset, h.length);
    if (options.deltaSync) {
      for (const d of g.#disks) d.bitmap.markAll();
      g.#deltaPending = true;
    } else if (options.initialSync) {
      await g.markExistingData();
      if (g.#al) await Promise.all(g.#disks.map((d) => g.#al!.markHot(d.index, 0, d.store.size)));
    }
    return g;
  }

  /** Marks the disks' existing data for an initial sync: only allocated, non-zero extents. */
  async markExistingData(): Promise<number> {
    let bytes = 0;
    for (const d of this.#disks) {
      let offset = 0;
      for (const e of await d.store.extents(0, d.store.size)) {
        if (!e.zero) {
          d.bitmap.mark(offset, e.length);
          bytes += e.length;
        }
        offset += e.length;
      }
    }
    return bytes;
  }

  /** The disks to compare by hash before the next resume, when a delta sync is due. */
  deltaTargets(): DiskState[] | undefined {
    return this.#deltaPending && this.#state.kind === "tracking" ? this.#disks : undefined;
  }

  deltaDone(): void {
    this.#deltaPending = false;
  }

  get state(): GroupState {
    return this.#state;
  }

  get disks(): DiskSpec[] {
    return this.#disks.map((d) => d.spec);
  }

  /** The BlockDevice the NBD server serves for disk `name` (`<vm>/<disk>`). */
  device(name: string): SplitterDevice {
    const d = this.#devices.get(name);
    if (!d) throw new RangeError(`no disk "${name}" in group ${this.name}`);
    return d;
  }

  get dirtyBytes(): number {
    return this.#disks.reduce((n, d) => n + d.bitmap.dirtyBytes, 0);
  }

  /**
   * Admits a write: its seq and place in the stream (or its bitmap mark), and
   * its range lock. Synchronous, so that arrival order is stream order.
   * `data` is copied: the caller reuses its buffer once the write resolves.
   */
  begin(disk: DiskState, kind: WriteKind, offset: number, length: number, data: Buffer | undefined): { held: Held; wait: Promise<void> | undefined } {
    const alWait = this.#al?.begin(disk.index, offset, length);
    const lock = disk.lock.acquire(offset, length);
    const wait = alWait && lock.wait ? Promise.all([alWait, lock.wait]).then(() => undefined) : (alWait ?? lock.wait);
    const bytes = (data?.length ?? 0) + ENTRY_OVERHEAD_BYTES;
    const full = this.#state.kind !== "tracking" && !this.stream.fits(bytes);
    // Streaming, a full stream overflows: the queue is dropped for the bitmap.
    // Syncing, points are inconsistent anyway: the write joins the bitmap and the
    // queue stays, so a link slower than the writes does not thrash.
    if (full && this.#state.kind === "streaming") {
      this.#overflow(`the outgoing stream reached its limit of ${formatBytes(this.stream.limitBytes)} (link down or too slow)`);
    }
    if (this.#state.kind === "tracking" || full) {
      disk.bitmap.mark(offset, length);
      return { held: lock.held, wait };
    }
    const seq = this.stream.nextSeq;
    const timeMs = Date.now();
    const record: StreamRecord =
      kind === "write"
        ? { type: "write", seq, timeMs, disk: disk.index, offset, data: this.stream.copy(data!, seq) }
        : { type: kind, seq, timeMs, disk: disk.index, offset, length };
    this.#al?.note(disk.index, offset, length, seq);
    if (!alWait) {
      this.stream.push({ seq, timeMs, disk: disk.index, offset, length, record, bytes });
      return lock;
    }
    // Not let out before its extent is durably hot (see activity-log.ts).
    const entry: StreamEntry = { seq, timeMs, disk: disk.index, offset, length, record: undefined, bytes };
    this.stream.push(entry);
    const out = () => this.stream.ready(entry, record);
    alWait.then(out, out);
    return { held: lock.held, wait };
  }

  end(disk: DiskState, held: Held): void {
    disk.lock.release(held);
    this.#al?.end(disk.index, held.start, held.end - held.start);
  }

  /** The local write failed after its record went out: resend the block's real contents. */
  localWriteFailed(disk: DiskState, offset: number, length: number, error: Error): void {
    disk.bitmap.mark(offset, length);
    this.events.emit({ type: "error", error, message: `a write to ${disk.spec.name} failed locally; its blocks will be synced again` });
    this.#transition({ type: "dirty", dirtyBytes: length, reason: `a local write to ${disk.spec.name} failed`, nowMs: Date.now() });
    this.#sync.kick();
  }

  /** A checkpoint now, tagged when asked: a named point every disk of the group is consistent at. */
  checkpoint(tag?: string): CheckpointResult {
    const timeMs = Date.now();
    const id = randomUUID();
    if (this.#state.kind === "tracking" || this.#closed) return { seq: undefined, id, tag, timeMs, consistent: false };
    const consistent = this.#state.kind === "streaming";
    const seq = this.stream.nextSeq;
    const record: StreamRecord = { type: "checkpoint", seq, timeMs, id, tag, consistent };
    this.stream.push({ seq, timeMs, disk: -1, offset: 0, length: 0, record, bytes: ENTRY_OVERHEAD_BYTES });
    this.events.emit({ type: "checkpoint", seq, id, tag, consistent });
    return { seq, id, tag, timeMs, consistent };
  }

  /**
   * The sender reached the recovery site, which holds `durableSeq`. Returns
   * the first seq to send. Decides whether a bitmap sync is needed.
   */
  resume(durableSeq: number): number {
    const s = this.stream;
    if (this.#state.kind !== "tracking") {
      if (durableSeq < s.ackedSeq || durableSeq >= s.nextSeq) {
        const why = durableSeq < s.ackedSeq
          ? `the recovery site holds seq ${durableSeq}, less than the ${s.ackedSeq} it acknowledged`
          : `the recovery site holds seq ${durableSeq}, more than this appliance ever sent (${s.nextSeq - 1})`;
        if (durableSeq < s.ackedSeq) for (const d of this.#disks) d.bitmap.markAll();
        this.#overflow(why);
      } else {
        s.ack(durableSeq);
        this.#checkConsistent();
        return durableSeq + 1;
      }
    }
    s.reset(durableSeq);
    const dirty = this.dirtyBytes;
    const reason = this.#state.kind === "tracking" ? this.#state.reason : "";
    this.#transition({ type: "resume", dirtyBytes: dirty, reason, nowMs: Date.now() });
    if (this.#state.kind === "streaming") this.#consistentAt(durableSeq);
    else this.#sync.kick();
    return durableSeq + 1;
  }

  /** The recovery site holds everything through `seq` durably. */
  ack(seq: number): void {
    if (seq > this.stream.ackedSeq) this.stream.ack(Math.min(seq, this.stream.nextSeq - 1));
    this.#checkConsistent();
  }

  /** The sync has admitted its last dirty block: points after it are consistent. */
  syncSent(): void {
    if (this.#state.kind !== "syncing") return;
    this.#transition({ type: "sync-sent", nowMs: Date.now() });
    this.#consistentAt(this.stream.nextSeq - 1);
  }

  /** Admits a sync block under the range lock (see BlockSync). */
  beginSync(disk: DiskState, offset: number, length: number): { entry: StreamEntry; held: Held; wait: Promise<void> | undefined } | undefined {
    if (this.#state.kind !== "syncing") return undefined;
    // Counted in flight in the activity log (the extent is hot: it holds a dirty block).
    void this.#al?.begin(disk.index, offset, length)?.catch(() => undefined);
    const lock = disk.lock.acquire(offset, length);
    const seq = this.stream.nextSeq;
    this.#al?.note(disk.index, offset, length, seq);
    const entry: StreamEntry = { seq, timeMs: Date.now(), disk: disk.index, offset, length, record: undefined, bytes: length + ENTRY_OVERHEAD_BYTES, sync: true };
    this.stream.push(entry);
    return { entry, ...lock };
  }

  rpoMs(nowMs = Date.now()): number {
    if (this.#inconsistentSinceMs !== undefined) return Math.max(0, nowMs - this.#inconsistentSinceMs);
    const oldest = this.stream.oldestUnacked();
    return oldest ? Math.max(0, nowMs - oldest.timeMs) : 0;
  }

  status(): GroupStatus {
    return {
      group: this.name,
      state: this.#state,
      rpoMs: this.rpoMs(),
      lastSeq: this.stream.nextSeq - 1,
      ackedSeq: this.stream.ackedSeq,
      queueBytes: this.stream.bytes,
      queueEntries: this.stream.length,
      queueLimitBytes: this.stream.limitBytes,
      dirtyBytes: this.dirtyBytes,
      sync: this.#sync.status(this.#state),
    };
  }

  /** Extents in the activity log (0 without one). */
  get hotExtents(): number {
    return this.#al?.hotExtents ?? 0;
  }

  /** Stops the timers and the sync, and cools what can be cooled; the stores belong to the caller. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    if (this.#coolTimer) clearInterval(this.#coolTimer);
    this.#sync.stop();
    await this.#cool();
  }

  /** Drops the timers without touching the activity log: what a crash leaves (tests). */
  abandon(): void {
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    if (this.#coolTimer) clearInterval(this.#coolTimer);
    this.#sync.stop();
  }

  async #cool(): Promise<void> {
    if (!this.#al) return;
    try {
      await this.#al.cool(this.stream.ackedSeq, (d, o, l) => this.#disks[d]!.bitmap.anyDirty(o, l));
    } catch (err) {
      this.events.emit({ type: "error", error: err as Error, message: "the activity log could not be written" });
    }
  }

  #overflow(reason: string): void {
    // The dropped entries' copies are reused at the next resume: by then the sender has hung up
    // on the overflow event below, and while tracking nothing is copied.
    const dropped = this.stream.reset(this.stream.ackedSeq);
    let bytes = 0;
    for (const e of dropped) {
      if (e.disk >= 0) this.#disks[e.disk]!.bitmap.mark(e.offset, e.length);
      bytes += e.bytes;
    }
    this.#inconsistentSinceMs ??= dropped.find((e) => e.disk >= 0)?.timeMs ?? Date.now();
    this.#consistentAtSeq = undefined;
    this.events.emit({
      type: "overflow",
      droppedBytes: bytes,
      droppedEntries: dropped.length,
      message: `dropped ${dropped.length} queued records (${formatBytes(bytes)}) into the dirty bitmap because ${reason}`,
    });
    this.#transition({ type: "overflow", reason, nowMs: Date.now() });
  }

  #transition(input: GroupInput): void {
    const from = this.#state;
    const to = nextState(from, input);
    if (to === from || to.kind === from.kind) {
      this.#state = to;
      return;
    }
    this.#state = to;
    if (to.kind === "syncing") this.#inconsistentSinceMs ??= to.sinceMs;
    const bytes = to.kind === "syncing" ? to.totalBytes : this.dirtyBytes;
    const reason = to.kind === "streaming" ? `the sync ended after ${formatDuration(input.nowMs - (from.kind === "syncing" ? from.startedMs : from.sinceMs))}` : to.reason;
    const message =
      to.kind === "tracking" ? `tracking changes in the dirty bitmap: ${reason}`
      : to.kind === "syncing" ? `bitmap sync of ${formatBytes(bytes)} because ${reason}${from.kind === "tracking" ? ` (since ${formatDuration(input.nowMs - from.sinceMs)})` : ""}`
      : `streaming: ${reason}`;
    this.events.emit({ type: "state", from: from.kind, to: to.kind, reason, bytes, message });
  }

  #consistentAt(seq: number): void {
    this.#consistentAtSeq = seq;
    this.#checkConsistent();
  }

  #checkConsistent(): void {
    const at = this.#consistentAtSeq;
    if (at === undefined || this.#state.kind !== "streaming" || this.stream.ackedSeq < at) return;
    this.#consistentAtSeq = undefined;
    if (this.#inconsistentSinceMs === undefined) return;
    const since = this.#inconsistentSinceMs;
    this.#inconsistentSinceMs = undefined;
    this.events.emit({ type: "consistent", seq: at, message: `the recovery site is consistent again at seq ${at}, after ${formatDuration(Date.now() - since)}` });
  }
}
