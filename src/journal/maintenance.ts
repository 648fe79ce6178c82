/**
 * The journal's background work on the replica: promotion (history older
 * than the window, or early at the size limit) and failover commit. Kept
 * apart from journal.ts, which owns the state, and reached through a narrow
 * core of that state. Each step is persisted before the next (see
 * promotion.ts for the order), so a crash anywhere is finished at the next
 * open (promotion) or by calling commit again.
 */
import path from "node:path";
import type { FileDevice } from "../blockdev/index.js";
import { fsyncDir } from "./atomic-file.js";
import type { CheckpointList } from "./checkpoints.js";
import { copyOverlay } from "./commit.js";
import { JournalClosedError, JournalError, PointNotFoundError } from "./errors.js";
import { type GroupConfig, type JournalState, SEGMENT_DIR } from "./group-files.js";
import { type JournalEvent, earlyPromotionTarget } from "./limits.js";
import type { Overlay } from "./overlay.js";
import type { PinSet } from "./pins.js";
import { type PromoteOptions, type PromoteResult, type RecordSource, applyRecords, planPromotion } from "./promotion.js";
import type { RangeIndex } from "./range-index.js";
import type { RecordTable } from "./record-table.js";
import type { Segment } from "./segment.js";

export interface JournalCore {
  readonly dir: string;
  readonly readOnly: boolean;
  readonly config: GroupConfig;
  readonly state: JournalState;
  readonly segments: Segment[];
  readonly table: RecordTable;
  readonly index: RangeIndex;
  readonly checkpoints: CheckpointList;
  readonly pins: PinSet;
  readonly replicas: Map<number, FileDevice>;
  readonly source: RecordSource;
  durableSeq(): number;
  lastSeq(): number;
  sizeBytes(): number;
  diskId(name: string): number;
  saveState(): Promise<void>;
  emit(e: JournalEvent): void;
  checkLimits(): void;
  /** Waits until `seq` is written and everything queued is durable. */
  settle(seq: number): Promise<void>;
}

export class Maintenance {
  readonly #c: JournalCore;
  #promoting: Promise<unknown> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;
  #ticking = false;

  constructor(core: JournalCore) {
    this.#c = core;
  }

  /** Promotes now and then, as history passes the window (the timer never keeps the process alive). */
  startTimer(everyMs: number): void {
    if (everyMs <= 0 || this.#c.readOnly) return;
    this.#timer = setInterval(() => void this.#tick(), everyMs);
    this.#timer.unref();
  }

  stopTimer(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  async #tick(): Promise<void> {
    const { table, config } = this.#c;
    if (this.#ticking || table.firstSeq > table.lastSeq || table.timeMs(table.firstSeq) > Date.now() - config.historyWindowMs) return;
    this.#ticking = true;
    try {
      await this.promote({});
    } catch (err) {
      this.#c.emit({ type: "promotion-failed", error: err instanceof Error ? err : new Error(String(err)) });
    } finally {
      this.#ticking = false;
    }
  }

  /** Resolves when no promotion is running or queued. */
  async idle(): Promise<void> {
    await this.#promoting;
  }

  /** Promotions run one at a time, in the order asked. */
  promote(options: PromoteOptions): Promise<PromoteResult> {
    const run = this.#promoting.then(() => this.#promote(options));
    this.#promoting = run.catch(() => undefined);
    return run;
  }

  async #promote(o: PromoteOptions): Promise<PromoteResult> {
    const c = this.#c;
    if (c.readOnly) throw new JournalClosedError("the journal is open read-only");
    const fromSeq = c.state.appliedThroughSeq + 1;
    const target = planPromotion({
      appliedThroughSeq: c.state.appliedThroughSeq,
      durableSeq: c.durableSeq(),
      windowSeq: c.table.lastAtOrBeforeTime((o.nowMs ?? Date.now()) - c.config.historyWindowMs),
      requestedSeq: o.throughSeq,
      minPinSeq: o.ignorePins ? undefined : c.pins.min(),
    });
    if (target >= fromSeq) {
      c.state.promotingToSeq = target;
      await c.saveState();
      await applyRecords(c.source, fromSeq, target, o.onProgress);
      for (const r of c.replicas.values()) await r.flush();
      c.state.appliedThroughSeq = target;
      c.state.promotingToSeq = undefined;
      await c.saveState();
      this.#forgetThrough(target);
    }
    const deletedSegments: string[] = [];
    while (c.segments.length > 1 && c.segments[0]!.lastSeq <= c.state.appliedThroughSeq) {
      const seg = c.segments.shift()!;
      await seg.remove();
      deletedSegments.push(seg.name);
    }
    if (deletedSegments.length > 0) await fsyncDir(path.join(c.dir, SEGMENT_DIR));
    const result = { fromSeq, throughSeq: c.state.appliedThroughSeq, deletedSegments };
    if (target >= fromSeq) c.emit({ type: "promoted", ...result });
    c.checkLimits();
    return result;
  }

  /** At the limit: promote early, through whole segments, past test pins (revoked) but not others. */
  async shrink(): Promise<void> {
    const c = this.#c;
    let target = earlyPromotionTarget(c.segments, c.sizeBytes(), c.config.limitBytes * c.config.warnFraction);
    if (target === undefined) return;
    for (const pin of [...c.pins.list()]) {
      if (pin.seq >= target) continue;
      if (pin.kind === "test") {
        c.pins.remove(pin.id);
        c.emit({ type: "pin-revoked", pin, reason: "the journal reached its size limit; a test never holds replication back" });
      } else {
        c.emit({ type: "pin-blocks-limit", pin });
        target = Math.min(target, pin.seq);
      }
    }
    await c.saveState();
    await this.promote({ throughSeq: target });
  }

  /** See Journal.commit. */
  async commit(seq: number, overlays: ReadonlyMap<string, Overlay>, onProgress?: (phase: string, done: number, total: number) => void): Promise<void> {
    const c = this.#c;
    const st = c.state;
    if (st.commit && st.commit.seq !== seq) throw new JournalError(`a commit to seq ${st.commit.seq} is under way; finish it first`);
    if (!st.commit) {
      if (seq < st.appliedThroughSeq) throw new PointNotFoundError(`seq ${seq} is older than the replica's point ${st.appliedThroughSeq}`);
      await c.settle(seq);
      st.commit = { seq, phase: "journal" };
      await c.saveState();
    }
    if (st.commit!.phase === "journal") {
      await this.promote({ throughSeq: seq, ignorePins: true, onProgress: (d, t) => onProgress?.("journal", d, t) });
      st.commit = { seq, phase: "overlay" };
      await c.saveState();
    }
    if (st.commit!.phase === "overlay") {
      for (const [name, overlay] of overlays) {
        await copyOverlay(overlay, c.replicas.get(c.diskId(name))!, (d, t) => onProgress?.(`overlay ${name}`, d, t));
      }
      for (const r of c.replicas.values()) await r.flush();
      st.commit = { seq, phase: "done" };
      st.appliedThroughSeq = Math.max(st.appliedThroughSeq, c.lastSeq());
      await c.saveState();
    }
    this.#forgetThrough(st.appliedThroughSeq);
    while (c.segments.length > 0) await c.segments.shift()!.remove();
    await fsyncDir(path.join(c.dir, SEGMENT_DIR));
  }

  /** Records through `seq` are in the replica: the index and checkpoints let them go. */
  #forgetThrough(seq: number): void {
    this.#c.index.setFirstLiveSeq(seq + 1);
    this.#c.table.dropBefore(seq + 1);
    this.#c.checkpoints.dropBefore(seq + 1);
  }
}
