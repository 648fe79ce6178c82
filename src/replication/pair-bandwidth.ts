/**
 * The bandwidth limit of a site pair, shared by every group that replicates
 * over it (the WAN link between two datacentres is one pipe, whatever the
 * number of groups). Within the limit, groups share by weight (their
 * priority): start-time fair queueing, where each group's request is tagged
 * with its virtual start time and requests go in tag order, so a high
 * priority group gets four times the bytes of a low one while both are
 * busy, and an idle group's share goes to the others.
 *
 * A token bucket paces the whole: a request larger than what the bucket
 * holds goes into debt and the next waits it off, so a big batch is never
 * stuck. The clock is injected so that the tests can run it in virtual time.
 */
import { TokenBucket } from "./token-bucket.js";

export interface BandwidthClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): object;
  clearTimeout(handle: object): void;
}

const realClock: BandwidthClock = {
  now: () => Date.now(),
  // Unref'd: a pacing timer alone keeps no process alive.
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** Weights of the group priorities. */
export const PRIORITY_WEIGHT = { high: 4, medium: 2, low: 1 } as const;

interface Waiter {
  start: number;
  bytes: number;
  resolve: () => void;
}

export class PairBandwidth {
  readonly #clock: BandwidthClock;
  readonly #bucket: TokenBucket;
  /** Waiting requests, in start-tag order. */
  #queue: Waiter[] = [];
  /** Virtual time: the start tag of the request granted last. */
  #virtual = 0;
  /** Each group's last finish tag. */
  readonly #finish = new Map<string, number>();
  #timer: object | undefined;

  constructor(rateBytesPerSec?: number, clock: BandwidthClock = realClock) {
    this.#clock = clock;
    this.#bucket = new TokenBucket(rateBytesPerSec, () => clock.now());
  }

  get rateBytesPerSec(): number | undefined {
    return this.#bucket.rateBytesPerSec;
  }

  /** undefined or 0: unlimited (everything waiting goes at once). */
  setRate(rateBytesPerSec: number | undefined): void {
    this.#bucket.setRate(rateBytesPerSec);
    this.#pump();
  }

  /**
   * Asks to send `bytes` for `group` with `weight`; resolves when they may
   * go. Undefined when they may go now (no promise on the hot path).
   */
  acquire(group: string, bytes: number, weight: number): Promise<void> | undefined {
    const start = Math.max(this.#virtual, this.#finish.get(group) ?? 0);
    this.#finish.set(group, start + bytes / Math.max(weight, 1e-9));
    if (this.#bucket.rateBytesPerSec === undefined || (this.#queue.length === 0 && this.#bucket.peek() >= 0)) {
      this.#bucket.take(bytes);
      this.#virtual = start;
      return undefined;
    }
    return new Promise((resolve) => {
      const w: Waiter = { start, bytes, resolve };
      let i = this.#queue.length;
      while (i > 0 && this.#queue[i - 1]!.start > start) i--;
      this.#queue.splice(i, 0, w);
      this.#pump();
    });
  }

  /** Lets waiting requests go in tag order while the bucket is not in debt; sleeps until it is out of debt again. */
  #pump(): void {
    if (this.#timer) {
      this.#clock.clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    while (this.#queue.length > 0) {
      if (this.#bucket.rateBytesPerSec !== undefined && this.#bucket.peek() < 0) {
        this.#timer = this.#clock.setTimeout(() => {
          this.#timer = undefined;
          this.#pump();
        }, Math.max(1, this.#bucket.msUntilClear()));
        return;
      }
      const w = this.#queue.shift()!;
      this.#bucket.take(w.bytes);
      this.#virtual = w.start;
      w.resolve();
    }
  }
}
