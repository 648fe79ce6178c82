/**
 * Recent samples of each group's RPO, throughput and queue, gathered from the
 * polls while the console is open (the API reports only the present), for
 * the sparklines and live charts. One hour is kept per group.
 */
import type { GroupStatus } from "../api/types";

export interface Sample {
  t: number;
  rpoMs: number | null;
  throughput: number;
  queueBytes: number;
}

const KEEP_MS = 3_600_000;

export class History {
  readonly #byGroup = new Map<string, Sample[]>();

  add(nowMs: number, groups: GroupStatus[]): void {
    for (const g of groups) {
      let s = this.#byGroup.get(g.name);
      if (!s) this.#byGroup.set(g.name, (s = []));
      s.push({ t: nowMs, rpoMs: g.rpoMs, throughput: g.throughputBytesPerSec, queueBytes: g.queueBytes });
      while (s.length > 0 && s[0]!.t < nowMs - KEEP_MS) s.shift();
    }
  }

  of(group: string): readonly Sample[] {
    return this.#byGroup.get(group) ?? [];
  }
}
