/**
 * A protection group's journal at the recovery site: every write of the
 * group's stream, in seq order, with checkpoints, over a replica that holds
 * the state at the oldest retained point. This class ties the parts together:
 * appends (appender.ts), the index (record-table.ts, range-index.ts), the
 * open and its crash recovery (journal-open.ts), pins and PIT views;
 * promotion, limits and commit live in their own files and are driven here.
 *
 * Seqs: records ≤ appliedThroughSeq are in the replica; the journal holds
 * (appliedThroughSeq, lastSeq]; a view can open at any seq in
 * [appliedThroughSeq, writtenSeq]. durableSeq is what replication ACKs;
 * journal/durable.mark trails it, off the append path (durable-mark.ts), so
 * that the next open can tell a torn tail from a damaged durable record.
 */
import path from "node:path";
import type { FileDevice } from "../blockdev/index.js";
import { Appender, type PendingRecord } from "./appender.js";
import { type AppendInput, buildRecord } from "./append-input.js";
import type { CheckpointList } from "./checkpoints.js";
import { DURABLE_MARK_FILE, DurableMarkWriter, markAt } from "./durable-mark.js";
import { JournalClosedError, JournalCorruptError, PointNotFoundError } from "./errors.js";
import type { Overlay } from "./overlay.js";
import * as files from "./group-files.js";
import { type JournalOpenOptions, type LoadedJournal, type OpenReport, openParts } from "./journal-open.js";
import type { JournalCreateOptions } from "./group-files.js";
import { type JournalEvent, LimitWatch } from "./limits.js";
import { PinSet } from "./pins.js";
import { type Piece, type RangeIndex } from "./range-index.js";
import type { RecordRow, RecordTable } from "./record-table.js";
import type { Segment } from "./segment.js";
import type { PromoteOptions, PromoteResult } from "./promotion.js";
import { Maintenance } from "./maintenance.js";
import { HEADER_BYTES, decodeHeader, payloadChecksumOk } from "./record.js";
import { SNAPSHOT_FILE, writeSnapshot } from "./snapshot.js";

/** Records between automatic index snapshots (at least; also at most a quarter of the index). */
const SNAPSHOT_EVERY_RECORDS = 1 << 20;
/** Least time between background updates of the durable mark (durable-mark.ts). */
const DURABLE_MARK_EVERY_MS = 1000;

export interface SegmentInfo {
  name: string;
  firstSeq: number;
  lastSeq: number;
  sizeBytes: number;
}

export class Journal {
  readonly dir: string;
  readonly readOnly: boolean;
  readonly config: files.GroupConfig;
  readonly openReport: OpenReport;
  readonly #state: files.JournalState;
  readonly #segments: Segment[];
  readonly #table: RecordTable;
  readonly #index: RangeIndex;
  readonly #checkpoints: CheckpointList;
  readonly #disksByName: Map<string, files.DiskInfo>;
  readonly #replicas: Map<number, FileDevice>;
  readonly #appender: Appender;
  readonly #pins: PinSet;
  readonly #limits: LimitWatch;
  readonly #maintenance: Maintenance;
  readonly #mark: DurableMarkWriter;
  readonly #listeners = new Set<(e: JournalEvent) => void>();
  #lastSeq: number;
  #writtenSeq: number;
  #durableSeq: number;
  #writtenWaiters: { seq: number; resolve: () => void }[] = [];
  #closed = false;
  #shrinking: Promise<void> | undefined;
  #stateWrites: Promise<unknown> = Promise.resolve();
  #snapshots: Promise<unknown> = Promise.resolve();
  #snapshotSeq = 0;
  #snapshotEvery = SNAPSHOT_EVERY_RECORDS;

  private constructor(dir: string, readOnly: boolean, config: files.GroupConfig, state: files.JournalState, loaded: LoadedJournal, replicas: Map<number, FileDevice>, markEveryMs: number) {
    this.dir = dir;
    this.readOnly = readOnly;
    this.config = config;
    this.#state = state;
    this.openReport = loaded.report;
    this.#segments = loaded.segments;
    this.#table = loaded.table;
    this.#index = loaded.index;
    this.#checkpoints = loaded.checkpoints;
    this.#replicas = replicas;
    this.#disksByName = new Map(config.disks.map((d) => [d.name, d]));
    this.#index.setFirstLiveSeq(state.appliedThroughSeq + 1);
    this.#lastSeq = this.#writtenSeq = this.#durableSeq = Math.max(loaded.table.lastSeq, state.appliedThroughSeq);
    this.#snapshotSeq = this.#lastSeq;
    this.#pins = new PinSet(state.pins);
    this.#limits = new LimitWatch(config, (e) => this.emit(e));
    this.#appender = new Appender({
      dir: path.join(dir, files.SEGMENT_DIR),
      segments: this.#segments,
      segmentBytes: () => files.rollBytes(config),
      onWritten: (batch, pos) => this.#onWritten(batch, pos),
      onDurable: (seq) => this.#onDurable(seq),
    });
    const markFile = path.join(dir, files.SEGMENT_DIR, DURABLE_MARK_FILE);
    const current = () => markAt(this.#durableSeq, this.#segments);
    this.#mark = new DurableMarkWriter({ file: markFile, everyMs: readOnly ? 0 : markEveryMs, current, onError: (error) => this.emit({ type: "mark-failed", error }) }, loaded.mark?.seq ?? -1);
    this.#maintenance = new Maintenance({
      dir,
      readOnly,
      config,
      state,
      segments: this.#segments,
      table: this.#table,
      index: this.#index,
      checkpoints: this.#checkpoints,
      pins: this.#pins,
      replicas,
      source: this,
      durableSeq: () => this.#durableSeq,
      lastSeq: () => this.#lastSeq,
      sizeBytes: () => this.sizeBytes,
      diskId: (name) => this.disk(name).id,
      saveState: () => this.#saveState(),
      emit: (e) => this.emit(e),
      checkLimits: () => void this.#limits.check(this.sizeBytes),
      settle: async (seq) => {
        await this.whenWritten(seq);
        await this.#appender.drain();
      },
    });
  }

  /** Creates a group's journal directory, with an empty sparse replica per disk. */
  static async create(dir: string, options: JournalCreateOptions): Promise<Journal> {
    await files.createGroupDir(dir, options);
    return Journal.open(dir);
  }

  static async open(dir: string, options: JournalOpenOptions = {}): Promise<Journal> {
    const parts = await openParts(dir, options);
    const journal = new Journal(dir, options.readOnly ?? false, parts.config, parts.state, parts.loaded, parts.replicas, options.durableMarkEveryMs ?? DURABLE_MARK_EVERY_MS);
    journal.#snapshotEvery = options.snapshotEveryRecords ?? SNAPSHOT_EVERY_RECORDS;
    const { state } = parts;
    try {
      // The open synced the last segment: all it found is durable, and marked so before anything is appended.
      if (!journal.readOnly) await journal.#mark.write();
      if (!journal.readOnly && state.promotingToSeq !== undefined && state.promotingToSeq > state.appliedThroughSeq) {
        // A promotion was cut short: finish it before any view reads the replica.
        await journal.promote({ throughSeq: state.promotingToSeq, ignorePins: true });
      }
    } catch (err) {
      // A failed open (a full disk, say) is retried: it must not keep its files open.
      await journal.#release();
      throw err;
    }
    journal.#maintenance.startTimer(options.promoteEveryMs ?? 10_000);
    return journal;
  }

  /**
   * The group's history window or size limit changed: kept in group.json and
   * in force at once (a smaller window or limit promotes on the next check).
   */
  async configure(settings: { historyWindowMs?: number; limitBytes?: number }): Promise<void> {
    if (settings.historyWindowMs !== undefined) this.config.historyWindowMs = settings.historyWindowMs;
    if (settings.limitBytes !== undefined) this.config.limitBytes = settings.limitBytes;
    if (!this.readOnly) await files.writeGroupConfig(this.dir, this.config);
    this.#limits.check(this.sizeBytes);
  }

  get disks(): files.DiskInfo[] {
    return this.config.disks;
  }

  disk(name: string): files.DiskInfo {
    const d = this.#disksByName.get(name);
    if (!d) throw new PointNotFoundError(`no disk "${name}" in this group (it has ${this.config.disks.map((x) => x.name).join(", ")})`);
    return d;
  }

  /** The replica's point: the oldest seq a view can show. */
  get appliedThroughSeq(): number {
    return this.#state.appliedThroughSeq;
  }

  /** A failover commit begun (and how far it got), persisted: a restart must finish it, never roll it back. */
  get commitState(): Readonly<files.CommitState> | undefined {
    return this.#state.commit;
  }

  get lastSeq(): number {
    return this.#lastSeq;
  }

  get writtenSeq(): number {
    return this.#writtenSeq;
  }

  /** The highest seq that is durable with everything before it: what replication ACKs. */
  get durableSeq(): number {
    return this.#durableSeq;
  }

  get checkpoints(): CheckpointList {
    return this.#checkpoints;
  }

  get sizeBytes(): number {
    return this.#segments.reduce((n, s) => n + s.sizeBytes, 0);
  }

  get segments(): SegmentInfo[] {
    return this.#segments.map((s) => ({ name: s.name, firstSeq: s.firstSeq, lastSeq: s.lastSeq, sizeBytes: s.sizeBytes }));
  }

  /** Time of a retained record (the source's clock). */
  timeOf(seq: number): number | undefined {
    return this.#table.has(seq) ? this.#table.timeMs(seq) : undefined;
  }

  /** Bytes of memory the index holds, and for how many records. */
  get indexMemory(): { bytes: number; records: number } {
    return { bytes: this.#table.bytes + this.#index.bytes, records: this.#table.lastSeq - this.#table.firstSeq + 1 };
  }

  on(listener: (e: JournalEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Appends one record; resolves when it is durable. See AppendInput for buffer ownership. */
  append(input: AppendInput): Promise<void> {
    return this.appendMany([input]);
  }

  /**
   * Appends records in order; resolves when the last is durable (so all are),
   * rejects at the first failure. One promise for a batch, not one a record:
   * the receiver appends whole frames of them.
   */
  appendMany(inputs: readonly AppendInput[]): Promise<void> {
    if (this.#closed || this.readOnly) return Promise.reject(new JournalClosedError(this.#closed ? "the journal is closed" : "the journal is open read-only"));
    if (inputs.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      let failed = false;
      const fail = (err: Error): void => {
        if (failed) return;
        failed = true;
        reject(err);
      };
      try {
        for (let i = 0; i < inputs.length; i++) {
          const input = inputs[i]!;
          this.#appender.enqueue(buildRecord(input, this.#lastSeq + 1, this.#disksByName, i === inputs.length - 1 ? resolve : settledByLast, fail));
          this.#lastSeq = input.seq;
        }
      } catch (err) {
        fail(err instanceof Error ? err : new Error(String(err)));
      }
    });
  }

  /** Resolves once `seq` is written (readable by views). */
  whenWritten(seq: number): Promise<void> {
    if (seq <= this.#writtenSeq) return Promise.resolve();
    if (seq > this.#lastSeq) return Promise.reject(new PointNotFoundError(`seq ${seq} is not in the journal (last is ${this.#lastSeq})`));
    return new Promise((resolve) => this.#writtenWaiters.push({ seq, resolve }));
  }

  // ---- pins ----

  get pins(): files.PinRecord[] {
    return this.#pins.list();
  }

  /** Pins a seq for a test or failover: promotion never passes it. Persisted. */
  async pin(seq: number, owner: string, kind: files.PinKind = "other"): Promise<files.PinRecord> {
    this.#checkViewable(seq);
    const pin = this.#pins.add(seq, owner, kind);
    await this.#saveState();
    return pin;
  }

  async unpin(id: string): Promise<void> {
    if (this.#pins.remove(id)) await this.#saveState();
  }

  // ---- what PIT views read (PitSource) ----

  /** Pins `seq` in memory for a view; undone by releaseView. */
  async retainView(seq: number): Promise<void> {
    this.#checkViewable(seq);
    this.#pins.retain(seq);
    await this.whenWritten(seq);
  }

  releaseView(seq: number): void {
    this.#pins.release(seq);
  }

  resolve(disk: number, seq: number, offset: number, length: number): Piece[] {
    return this.#index.resolve(this.#table, disk, seq, offset, length);
  }

  windowBytes(disk: number): number {
    return this.#index.windowBytes(disk);
  }

  /** Reads disk bytes [diskOffset, diskOffset+length) from WRITE record `seq`. */
  readPiece(seq: number, diskOffset: number, buffer: Buffer, bufferOffset: number, length: number): Promise<void> {
    return this.readRecord(seq, diskOffset - this.#table.offset(seq), buffer, bufferOffset, length);
  }

  /**
   * Reads `length` bytes of WRITE record `seq`'s payload, from `delta` into it.
   * The open reads headers only, so the first read of a record reads all of
   * it and checks its checksums: damaged data is an error, never returned
   * (views, promotion, commit and export all read through here).
   */
  readRecord(seq: number, delta: number, buffer: Buffer, bufferOffset: number, length: number): Promise<void> {
    const dataPos = this.#table.dataPos(seq);
    if (this.#table.verified(seq)) return this.#segmentOf(seq).read(buffer, bufferOffset, length, dataPos + delta);
    return this.#readChecked(seq, dataPos).then((payload) => void payload.copy(buffer, bufferOffset, delta, delta + length));
  }

  async #readChecked(seq: number, dataPos: number): Promise<Buffer> {
    const seg = this.#segmentOf(seq);
    const payloadBytes = this.#table.length(seq);
    const pos = dataPos - HEADER_BYTES;
    const whole = Buffer.allocUnsafe(HEADER_BYTES + payloadBytes);
    await seg.read(whole, 0, whole.length, pos);
    const h = decodeHeader(whole, 0);
    const payload = whole.subarray(HEADER_BYTES);
    let fault: string | undefined;
    if (typeof h === "string") fault = h;
    else if (h.seq !== seq || h.payloadBytes !== payloadBytes) fault = `the header says seq ${h.seq} of ${h.payloadBytes} bytes, the index seq ${seq} of ${payloadBytes}`;
    else if (!payloadChecksumOk(h, payload)) fault = "payload checksum mismatch";
    if (fault) throw new JournalCorruptError(seg.name, pos, `${fault} at seq ${seq}, found reading it`);
    this.#table.markVerified(seq);
    return payload;
  }

  replica(disk: number): FileDevice {
    return this.#replicas.get(disk)!;
  }

  /** A retained record's header fields (for promotion, export and inspection). */
  record(seq: number): RecordRow {
    return this.#table.row(seq);
  }

  emit(event: JournalEvent): void {
    for (const l of this.#listeners) l(event);
  }

  /**
   * Persists the index up to the durable seq, so the next open reads only the
   * headers after it. Runs beside appends; written now and then on its own
   * (see #onDurable) and at close.
   */
  saveSnapshot(): Promise<void> {
    if (this.readOnly) return Promise.resolve();
    const run = this.#snapshots.then(() => this.#writeSnapshot());
    this.#snapshots = run.catch(() => undefined);
    return run;
  }

  async #writeSnapshot(): Promise<void> {
    const firstSeq = this.#table.firstSeq;
    const lastSeq = Math.max(firstSeq - 1, Math.min(this.#durableSeq, this.#table.lastSeq));
    this.#snapshotSeq = lastSeq;
    const segments = this.#segments
      .filter((s) => s.durableSeq >= s.firstSeq || s.durableBytes > 0)
      .map((s) => ({ name: s.name, firstSeq: s.firstSeq, lastSeq: s.durableSeq, sizeBytes: s.durableBytes }));
    const checkpoints = this.#checkpoints.toColumns(lastSeq);
    await writeSnapshot(path.join(this.dir, files.SEGMENT_DIR, SNAPSHOT_FILE), { version: 2, firstSeq, lastSeq, segments, checkpoints }, this.#table);
    // The mark never trails the snapshot (it may lead it).
    await this.#mark.write();
  }

  /** Resolves when appends queued so far are durable and background promotion has finished. */
  async idle(): Promise<void> {
    await this.#appender.drain();
    await this.#shrinking;
    await this.#maintenance.idle();
  }

  /**
   * Writes the durable mark and the index snapshot, then closes every file.
   * The files are closed even when those writes fail (a full disk): a journal
   * closed and opened again until space returns must not pile up descriptors
   * of deleted segments, which would keep the space from ever returning.
   */
  async close(options: { snapshot?: boolean } = {}): Promise<void> {
    if (this.#closed) return;
    this.#maintenance.stopTimer();
    try {
      await this.idle();
      if (!this.readOnly && !this.#appender.failure) await this.#mark.write();
      if (!this.readOnly && (options.snapshot ?? true) && !this.#appender.failure) await this.saveSnapshot();
      await this.#snapshots;
    } finally {
      await this.#release();
    }
  }

  /** Stops the background writers and closes every file; errors of the mark writer are not the caller's. */
  async #release(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#maintenance.stopTimer();
    await this.#mark.stop().catch(() => undefined);
    for (const s of this.#segments) s.close();
    for (const r of this.#replicas.values()) await r.close().catch(() => undefined);
  }

  /**
   * Failover commit: fold the journal through `seq`, plus each disk's overlay,
   * into the replicas; the history after `seq` is dropped. Persisted phase by
   * phase: after a crash, call it again with the same seq and it finishes.
   */
  commit(seq: number, overlays: ReadonlyMap<string, Overlay>, onProgress?: (phase: string, done: number, total: number) => void): Promise<void> {
    return this.#maintenance.commit(seq, overlays, onProgress);
  }

  /** Applies records older than the history window (or through `throughSeq`) to the replica. */
  promote(options: PromoteOptions = {}): Promise<PromoteResult> {
    return this.#maintenance.promote(options);
  }

  #onWritten(batch: PendingRecord[], pos: number): void {
    let at = pos;
    for (const r of batch) {
      const dataPos = at + HEADER_BYTES;
      this.#table.push(r.seq, r.type, r.disk, r.timeMs, r.offset, r.length, dataPos);
      if (r.checkpoint) this.#checkpoints.add({ seq: r.seq, timeMs: r.timeMs, ...r.checkpoint });
      else this.#index.add(r.disk, r.seq, r.offset, r.length);
      at = dataPos + (r.payload?.length ?? 0);
    }
    this.#writtenSeq = batch[batch.length - 1]!.seq;
    if (this.#writtenWaiters.length > 0) {
      const ready = this.#writtenWaiters.filter((w) => w.seq <= this.#writtenSeq);
      this.#writtenWaiters = this.#writtenWaiters.filter((w) => w.seq > this.#writtenSeq);
      for (const w of ready) w.resolve();
    }
  }

  #onDurable(seq: number): void {
    this.#durableSeq = seq;
    this.#mark.noteDurable();
    // A snapshot now and then, so that a crash does not cost a scan of everything.
    const sinceSnapshot = seq - this.#snapshotSeq;
    if (sinceSnapshot >= this.#snapshotEvery && sinceSnapshot * 4 >= seq - this.#table.firstSeq) {
      this.#snapshotSeq = seq;
      this.saveSnapshot().catch((error: unknown) => this.emit({ type: "snapshot-failed", error: asError(error) }));
    }
    if (this.#limits.check(this.sizeBytes) === "limit" && !this.#shrinking) {
      this.#shrinking = this.#maintenance
        .shrink()
        .catch((error: unknown) => this.emit({ type: "promotion-failed", error: asError(error) }))
        .finally(() => (this.#shrinking = undefined));
    }
  }

  #segmentOf(seq: number): Segment {
    const segs = this.#segments;
    let lo = 0;
    let hi = segs.length - 1;
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (segs[mid]!.firstSeq <= seq) lo = mid;
      else hi = mid - 1;
    }
    return segs[lo]!;
  }

  /** The oldest seq a view can open now: while a promotion runs, the replica is on its way to promotingToSeq and nothing older can be shown. */
  get oldestViewableSeq(): number {
    return Math.max(this.#state.appliedThroughSeq, this.#state.promotingToSeq ?? 0);
  }

  #checkViewable(seq: number): void {
    const oldest = this.oldestViewableSeq;
    if (!Number.isSafeInteger(seq) || seq < oldest || seq > this.#lastSeq) {
      throw new PointNotFoundError(`seq ${seq} is not in the journal, which holds ${oldest} to ${this.#lastSeq}`, {
        hint: "pick a seq or checkpoint inside the history window (see `lifeline journal inspect`)",
      });
    }
  }

  #saveState(): Promise<void> {
    const run = this.#stateWrites.then(() => files.writeJournalState(this.dir, this.#state));
    this.#stateWrites = run.catch(() => undefined);
    return run;
  }
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

/** A record of a batch appended with appendMany resolves nothing itself: the batch's last record does. */
function settledByLast(): void {}
