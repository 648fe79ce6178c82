/** Bytes per second over the last few seconds, from 100 ms buckets of bytes done. */
const BUCKET_MS = 100;

export class Throughput {
  readonly #buckets: number;
  #counts: number[];
  #at = 0;
  #lastBucket: number;

  constructor(windowMs = 3000, nowMs = Date.now()) {
    this.#buckets = Math.max(2, Math.round(windowMs / BUCKET_MS));
    this.#counts = new Array<number>(this.#buckets).fill(0);
    this.#lastBucket = Math.floor(nowMs / BUCKET_MS);
  }

  add(bytes: number, nowMs = Date.now()): void {
    this.#advance(nowMs);
    this.#counts[this.#at]! += bytes;
  }

  rate(nowMs = Date.now()): number {
    this.#advance(nowMs);
    return (this.#counts.reduce((a, b) => a + b, 0) / (this.#buckets * BUCKET_MS)) * 1000;
  }

  #advance(nowMs: number): void {
    const bucket = Math.floor(nowMs / BUCKET_MS);
    const steps = Math.min(this.#buckets, bucket - this.#lastBucket);
    for (let i = 0; i < steps; i++) {
      this.#at = (this.#at + 1) % this.#buckets;
      this.#counts[this.#at] = 0;
    }
    if (bucket > this.#lastBucket) this.#lastBucket = bucket;
  }
}
