/**
 * The last hour of each group's RPO, throughput and queue, for the
 * sparklines and live charts. The site keeps that hour
 * (`GET /groups/:name/history`); the console loads it once per group and
 * then appends the samples the live stream brings each second (or, while
 * the stream is down, what each poll saw). Samples are kept in time order
 * with one per instant, so a history that arrives after the first live
 * samples merges in without doubles.
 */
import type { GroupStatus, MetricsSeries } from "../api/types";

export interface Sample {
  t: number;
  rpoMs: number | null;
  throughput: number;
  queueBytes: number;
}

export const KEEP_MS = 3_600_000;

export function samplesOf(s: MetricsSeries): Sample[] {
  return s.t.map((t, i) => ({ t, rpoMs: s.rpoMs[i] ?? null, throughput: s.throughputBytesPerSec[i] ?? 0, queueBytes: s.queueBytes[i] ?? 0 }));
}

export class History {
  readonly #byGroup = new Map<string, Sample[]>();

  #of(group: string): Sample[] {
    let s = this.#byGroup.get(group);
    if (!s) this.#byGroup.set(group, (s = []));
    return s;
  }

  /** Appends samples newer than the newest held (the common case: a tick); older ones are merged in order. */
  append(group: string, samples: readonly Sample[]): void {
    const s = this.#of(group);
    for (const x of samples) {
      const last = s[s.length - 1];
      if (!last || x.t > last.t) s.push(x);
      else this.#insert(s, x);
    }
    this.#trim(s);
  }

  /** Merges a history loaded from the site; a sample already held for the same instant stays. */
  merge(group: string, samples: readonly Sample[]): void {
    const s = this.#of(group);
    const held = new Set(s.map((x) => x.t));
    const merged = [...s, ...samples.filter((x) => !held.has(x.t))].sort((a, b) => a.t - b.t);
    s.splice(0, s.length, ...merged);
    this.#trim(s);
  }

  /** What a poll saw, at `nowMs` (site time, as far as the console knows it). */
  add(nowMs: number, groups: GroupStatus[]): void {
    for (const g of groups) this.append(g.name, [{ t: nowMs, rpoMs: g.rpoMs, throughput: g.throughputBytesPerSec, queueBytes: g.queueBytes }]);
  }

  #insert(s: Sample[], x: Sample): void {
    let i = s.length;
    while (i > 0 && s[i - 1]!.t > x.t) i--;
    if (i > 0 && s[i - 1]!.t === x.t) s[i - 1] = x;
    else s.splice(i, 0, x);
  }

  #trim(s: Sample[]): void {
    const newest = s[s.length - 1]?.t;
    if (newest === undefined) return;
    let drop = 0;
    while (drop < s.length && s[drop]!.t < newest - KEEP_MS) drop++;
    if (drop) s.splice(0, drop);
  }

  of(group: string): readonly Sample[] {
    return this.#byGroup.get(group) ?? [];
  }

  forget(keep: ReadonlySet<string>): void {
    for (const g of this.#byGroup.keys()) if (!keep.has(g)) this.#byGroup.delete(g);
  }
}
