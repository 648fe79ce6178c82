/**
 * Holds back an operation while it overlaps one admitted before it and still
 * in flight, so that overlapping writes reach the production store in seq
 * order and the production disk and the replica agree byte for byte (the
 * file system does not order concurrent overlapping writes for us).
 *
 * Admission is synchronous, in arrival order; non-overlapping operations run
 * at once, many in flight (serialising them cost 3x at 4 KiB). The scan is
 * linear in the operations in flight, which NBD bounds to a few hundred.
 */
export interface Held {
  readonly start: number;
  readonly end: number;
  /** Callbacks of later operations waiting for this one. */
  waiters: (() => void)[] | undefined;
}

export class RangeLock {
  readonly #held = new Set<Held>();

  get inFlight(): number {
    return this.#held.size;
  }

  /** Admits [offset, offset+length); `wait` is set when earlier overlapping operations must finish first. */
  acquire(offset: number, length: number): { held: Held; wait: Promise<void> | undefined } {
    const held: Held = { start: offset, end: offset + Math.max(length, 1), waiters: undefined };
    let blockers = 0;
    let release: (() => void) | undefined;
    let wait: Promise<void> | undefined;
    for (const h of this.#held) {
      if (h.start < held.end && held.start < h.end) {
        if (!wait) wait = new Promise<void>((resolve) => (release = resolve));
        blockers++;
        (h.waiters ??= []).push(() => {
          if (--blockers === 0) release!();
        });
      }
    }
    this.#held.add(held);
    return { held, wait };
  }

  release(held: Held): void {
    this.#held.delete(held);
    if (held.waiters) for (const w of held.waiters) w();
  }
}
