/**
 * Pins hold history back: promotion never passes the oldest one. Tests and
 * failovers pin a seq durably (in state.json, so a restart keeps them);
 * each open PIT view pins its seq in memory, for as long as it is open.
 */
import { randomUUID } from "node:crypto";
import type { PinKind, PinRecord } from "./group-files.js";

export class PinSet {
  readonly #durable: PinRecord[];
  readonly #views = new Map<number, number>();

  constructor(persisted: PinRecord[]) {
    this.#durable = persisted;
  }

  /** The persisted pins; the array is the one written to state.json. */
  list(): PinRecord[] {
    return this.#durable;
  }

  add(seq: number, owner: string, kind: PinKind): PinRecord {
    const pin: PinRecord = { id: randomUUID(), seq, owner, kind, createdMs: Date.now() };
    this.#durable.push(pin);
    return pin;
  }

  remove(id: string): boolean {
    const i = this.#durable.findIndex((p) => p.id === id);
    if (i < 0) return false;
    this.#durable.splice(i, 1);
    return true;
  }

  retain(seq: number): void {
    this.#views.set(seq, (this.#views.get(seq) ?? 0) + 1);
  }

  release(seq: number): void {
    const n = (this.#views.get(seq) ?? 0) - 1;
    if (n <= 0) this.#views.delete(seq);
    else this.#views.set(seq, n);
  }

  /** The oldest pinned seq (views included), or undefined. */
  min(): number | undefined {
    let m: number | undefined;
    for (const p of this.#durable) if (m === undefined || p.seq < m) m = p.seq;
    for (const seq of this.#views.keys()) if (m === undefined || seq < m) m = seq;
    return m;
  }

  /** Views open at seqs below `seq` (they stop promotion; only their closing frees them). */
  viewsBelow(seq: number): number {
    let n = 0;
    for (const [s, count] of this.#views) if (s < seq) n += count;
    return n;
  }
}
