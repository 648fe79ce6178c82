/**
 * The last hour of each group's RPO, throughput and queue depth, one sample a
 * second, kept by the site daemon so that a console opened now draws the
 * hour that passed (before this, the browser gathered the samples itself and
 * every chart started empty).
 *
 * Memory only, on purpose: the hour is for looking at, not evidence (events,
 * alerts and reports are the durable record), and after a restart the charts
 * simply start from the restart. Each group's ring is four typed arrays of
 * a fixed length, so the cost is bounded (3600 × 32 bytes ≈ 113 KiB per
 * group) and recording a sample allocates nothing. A missing RPO (no
 * measure yet) is stored as NaN and comes back as null.
 */
import type { SiteContext } from "./context.js";

export interface MetricsSample {
  /** Epoch ms at the site. */
  t: number;
  rpoMs: number | null;
  throughputBytesPerSec: number;
  queueBytes: number;
}

/** Columns, as a chart takes them (uPlot's aligned data), oldest first. */
export interface MetricsSeries {
  t: number[];
  rpoMs: (number | null)[];
  throughputBytesPerSec: number[];
  queueBytes: number[];
}

export const HISTORY_KEEP_MS = 3_600_000;
export const HISTORY_INTERVAL_MS = 1000;

/** A fixed-size ring of samples; the oldest is overwritten once it is full. */
export class MetricsRing {
  readonly capacity: number;
  readonly #t: Float64Array;
  readonly #rpo: Float64Array;
  readonly #thr: Float64Array;
  readonly #queue: Float64Array;
  /** Where the next sample goes. */
  #head = 0;
  #size = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`a ring holds at least one sample (got ${capacity})`);
    this.capacity = capacity;
    this.#t = new Float64Array(capacity);
    this.#rpo = new Float64Array(capacity);
    this.#thr = new Float64Array(capacity);
    this.#queue = new Float64Array(capacity);
  }

  get size(): number {
    return this.#size;
  }

  /** Appends a sample. A time not after the newest one replaces it (a clock step back must not unsort the ring). */
  push(s: MetricsSample): void {
    if (this.#size > 0) {
      const last = (this.#head - 1 + this.capacity) % this.capacity;
      if (s.t <= this.#t[last]!) {
        this.#write(last, { ...s, t: Math.max(s.t, this.#t[last]!) });
        return;
      }
    }
    this.#write(this.#head, s);
    this.#head = (this.#head + 1) % this.capacity;
    this.#size = Math.min(this.#size + 1, this.capacity);
  }

  #write(i: number, s: MetricsSample): void {
    this.#t[i] = s.t;
    this.#rpo[i] = s.rpoMs ?? Number.NaN;
    this.#thr[i] = s.throughputBytesPerSec;
    this.#queue[i] = s.queueBytes;
  }

  /** The samples with `t > afterMs`, oldest first. */
  since(afterMs: number): MetricsSeries {
    const out: MetricsSeries = { t: [], rpoMs: [], throughputBytesPerSec: [], queueBytes: [] };
    const start = (this.#head - this.#size + this.capacity) % this.capacity;
    for (let k = 0; k < this.#size; k++) {
      const i = (start + k) % this.capacity;
      const t = this.#t[i]!;
      if (t <= afterMs) continue;
      const rpo = this.#rpo[i]!;
      out.t.push(t);
      out.rpoMs.push(Number.isNaN(rpo) ? null : rpo);
      out.throughputBytesPerSec.push(this.#thr[i]!);
      out.queueBytes.push(this.#queue[i]!);
    }
    return out;
  }
}

/** One ring per group, for the last `keepMs`. */
export class MetricsHistory {
  readonly keepMs: number;
  readonly intervalMs: number;
  readonly #rings = new Map<string, MetricsRing>();

  constructor(keepMs = HISTORY_KEEP_MS, intervalMs = HISTORY_INTERVAL_MS) {
    this.keepMs = keepMs;
    this.intervalMs = intervalMs;
  }

  record(group: string, s: MetricsSample): void {
    let ring = this.#rings.get(group);
    if (!ring) this.#rings.set(group, (ring = new MetricsRing(Math.ceil(this.keepMs / this.intervalMs))));
    ring.push(s);
  }

  /** Samples of `group` newer than `sinceMs` and than `nowMs - keepMs`; empty for a group never sampled. */
  since(group: string, sinceMs: number | undefined, nowMs: number): MetricsSeries {
    const ring = this.#rings.get(group);
    const after = Math.max(sinceMs ?? -Infinity, nowMs - this.keepMs);
    return ring ? ring.since(after) : { t: [], rpoMs: [], throughputBytesPerSec: [], queueBytes: [] };
  }

  /** Forgets the groups not in `names` (deleted ones), so the memory follows the groups that exist. */
  retain(names: ReadonlySet<string>): void {
    for (const g of this.#rings.keys()) if (!names.has(g)) this.#rings.delete(g);
  }

  /** Records the present of every group, as `GET /groups` reports it (the appliance's facts). */
  sample(ctx: SiteContext, nowMs = Date.now()): void {
    const names = new Set<string>();
    for (const g of ctx.manager.groups.list()) {
      names.add(g.name);
      const a = ctx.appliance.status(g.name);
      this.record(g.name, { t: nowMs, rpoMs: a?.rpoMs ?? null, throughputBytesPerSec: a?.throughputBytesPerSec ?? 0, queueBytes: a?.queueBytes ?? 0 });
    }
    this.retain(names);
  }
}
