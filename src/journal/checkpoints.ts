/**
 * The group's checkpoints, in seq order, and the questions an operator asks of
 * them: which ones in a time range or with a tag, the newest at or before a
 * time, the one "5.7 seconds ago". Checkpoints are a second a piece, so a
 * 30-day history holds millions: kept in parallel arrays, not objects.
 */
export interface Checkpoint {
  seq: number;
  timeMs: number;
  id: string;
  tag: string | undefined;
  consistent: boolean;
}

export class CheckpointList {
  readonly #seq: number[] = [];
  readonly #time: number[] = [];
  readonly #id: string[] = [];
  readonly #tag = new Map<number, string>();
  readonly #inconsistent = new Set<number>();
  /** Index of the first retained checkpoint (older ones were promoted). */
  #first = 0;

  add(c: Checkpoint): void {
    const i = this.#seq.length;
    this.#seq.push(c.seq);
    this.#time.push(c.timeMs);
    this.#id.push(c.id);
    if (c.tag !== undefined) this.#tag.set(i, c.tag);
    if (!c.consistent) this.#inconsistent.add(i);
  }

  get count(): number {
    return this.#seq.length - this.#first;
  }

  /** Forgets checkpoints before `seq` (their history was promoted away). */
  dropBefore(seq: number): void {
    while (this.#first < this.#seq.length && this.#seq[this.#first]! < seq) {
      this.#tag.delete(this.#first);
      this.#inconsistent.delete(this.#first);
      this.#first++;
    }
    if (this.#first > 4096 && this.#first * 2 > this.#seq.length) this.#compact();
  }

  /** Checkpoints with from <= time <= to (and the tag, when given), oldest first. */
  list(options: { fromMs?: number; toMs?: number; tag?: string } = {}): Checkpoint[] {
    const out: Checkpoint[] = [];
    const start = options.fromMs === undefined ? this.#first : this.#firstAtOrAfter(options.fromMs);
    for (let i = start; i < this.#seq.length; i++) {
      if (options.toMs !== undefined && this.#time[i]! > options.toMs) break;
      if (options.tag !== undefined && this.#tag.get(i) !== options.tag) continue;
      out.push(this.#at(i));
    }
    return out;
  }

  /** The newest consistent checkpoint at or before `timeMs`. */
  atOrBefore(timeMs: number): Checkpoint | undefined {
    for (let i = this.#firstAtOrAfter(timeMs + 1) - 1; i >= this.#first; i--) {
      if (!this.#inconsistent.has(i)) return this.#at(i);
    }
    return undefined;
  }

  /** The newest consistent checkpoint at least `seconds` before `nowMs`. */
  ago(seconds: number, nowMs: number = Date.now()): Checkpoint | undefined {
    return this.atOrBefore(nowMs - seconds * 1000);
  }

  /** The checkpoints up to `maxSeq` as parallel arrays, for the index snapshot. */
  toColumns(maxSeq: number): { seqs: number[]; ids: string[]; tags: [number, string][]; inconsistent: number[] } {
    const out = { seqs: [] as number[], ids: [] as string[], tags: [] as [number, string][], inconsistent: [] as number[] };
    for (let i = this.#first; i < this.#seq.length && this.#seq[i]! <= maxSeq; i++) {
      const seq = this.#seq[i]!;
      out.seqs.push(seq);
      out.ids.push(this.#id[i]!);
      const tag = this.#tag.get(i);
      if (tag !== undefined) out.tags.push([seq, tag]);
      if (this.#inconsistent.has(i)) out.inconsistent.push(seq);
    }
    return out;
  }

  byId(id: string): Checkpoint | undefined {
    for (let i = this.#seq.length - 1; i >= this.#first; i--) if (this.#id[i] === id) return this.#at(i);
    return undefined;
  }

  newest(): Checkpoint | undefined {
    return this.#seq.length > this.#first ? this.#at(this.#seq.length - 1) : undefined;
  }

  oldest(): Checkpoint | undefined {
    return this.#seq.length > this.#first ? this.#at(this.#first) : undefined;
  }

  #at(i: number): Checkpoint {
    return { seq: this.#seq[i]!, timeMs: this.#time[i]!, id: this.#id[i]!, tag: this.#tag.get(i), consistent: !this.#inconsistent.has(i) };
  }

  /** First index whose time is >= timeMs (times move forward with seq). */
  #firstAtOrAfter(timeMs: number): number {
    let lo = this.#first;
    let hi = this.#seq.length;
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      if (this.#time[mid]! < timeMs) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  #compact(): void {
    const all: Checkpoint[] = [];
    for (let i = this.#first; i < this.#seq.length; i++) all.push(this.#at(i));
    this.#seq.length = this.#time.length = this.#id.length = 0;
    this.#tag.clear();
    this.#inconsistent.clear();
    this.#first = 0;
    for (const c of all) this.add(c);
  }
}
