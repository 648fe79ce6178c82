/**
 * A bandwidth limit: a token bucket in bytes, whose rate can change at run
 * time (an operator throttles replication during business hours). A group's
 * own limit is one; a site pair's (pair-bandwidth.ts) is built on one. A take
 * larger than the bucket goes into debt and waits it off, so a big batch is
 * never stuck.
 */
export class TokenBucket {
  readonly #now: () => number;
  #rate: number | undefined;
  #tokens = 0;
  #lastMs: number;

  constructor(rateBytesPerSec?: number, now: () => number = Date.now) {
    this.#now = now;
    this.#lastMs = now();
    this.setRate(rateBytesPerSec);
  }

  get rateBytesPerSec(): number | undefined {
    return this.#rate;
  }

  /** undefined or 0: unlimited. */
  setRate(rateBytesPerSec: number | undefined): void {
    this.#refill();
    this.#rate = rateBytesPerSec && rateBytesPerSec > 0 ? rateBytesPerSec : undefined;
    if (this.#rate !== undefined) this.#tokens = Math.min(this.#tokens, this.#capacity());
  }

  /** Milliseconds to wait before sending `bytes` (0 when it may go now); the bytes are taken. */
  take(bytes: number): number {
    if (this.#rate === undefined) return 0;
    this.#refill();
    this.#tokens -= bytes;
    return this.#tokens >= 0 ? 0 : Math.ceil((-this.#tokens / this.#rate) * 1000);
  }

  /** The tokens now (negative: in debt). */
  peek(): number {
    this.#refill();
    return this.#tokens;
  }

  /** Milliseconds until the debt is paid off (0 when there is none). */
  msUntilClear(): number {
    if (this.#rate === undefined) return 0;
    const t = this.peek();
    return t >= 0 ? 0 : Math.ceil((-t / this.#rate) * 1000);
  }

  #capacity(): number {
    return this.#rate === undefined ? 0 : Math.max(64 * 1024, this.#rate / 20);
  }

  #refill(): void {
    const now = this.#now();
    if (this.#rate !== undefined) this.#tokens = Math.min(this.#capacity(), this.#tokens + ((now - this.#lastMs) / 1000) * this.#rate);
    this.#lastMs = now;
  }
}
