/**
 * A layer that forwards every request to a target that can be swapped while
 * clients stay connected: a failed-over VM keeps its NBD connection while its
 * disk moves from an overlay to the committed replica underneath it.
 *
 * `hold` lets requests in flight finish and makes new ones wait; `switchTo`
 * (only while held) changes the target; `release` lets the waiting requests
 * run on the new one. `track` records which blocks are written from then on,
 * so that what changed during a long background copy can be copied again,
 * briefly, while held.
 */
import type { BlockDevice, Extent, ZeroOptions } from "./block-device.js";
import { BlockDeviceError } from "./errors.js";

export class SwitchDevice implements BlockDevice {
  readonly size: number;
  #target: BlockDevice;
  #inflight = 0;
  #waiting: Array<() => void> | null = null;
  #idle: (() => void) | null = null;
  #tracked: Set<number> | null = null;
  #trackBlockBytes = 64 * 1024;
  #retired: string | null = null;

  constructor(target: BlockDevice) {
    this.#target = target;
    this.size = target.size;
  }

  get readOnly(): boolean {
    return this.#target.readOnly;
  }

  get target(): BlockDevice {
    return this.#target;
  }

  read(offset: number, length: number): Promise<Buffer> {
    return this.#call(() => this.#target.read(offset, length));
  }

  write(offset: number, data: Buffer, fua?: boolean): Promise<void> {
    this.#track(offset, data.length);
    return this.#call(() => this.#target.write(offset, data, fua));
  }

  writeZeroes(offset: number, length: number, options?: ZeroOptions): Promise<void> {
    this.#track(offset, length);
    return this.#call(() => this.#target.writeZeroes(offset, length, options));
  }

  trim(offset: number, length: number): Promise<void> {
    this.#track(offset, length);
    return this.#call(() => this.#target.trim(offset, length));
  }

  flush(): Promise<void> {
    return this.#call(() => this.#target.flush());
  }

  extents(offset: number, length: number): Promise<Extent[]> {
    return this.#call(() => this.#target.extents(offset, length));
  }

  /** Closes the current target. */
  close(): Promise<void> {
    return this.#target.close();
  }

  /** Resolves once no request is in flight; new ones wait until `release`. */
  hold(): Promise<void> {
    this.#waiting ??= [];
    if (this.#inflight === 0) return Promise.resolve();
    return new Promise((resolve) => (this.#idle = resolve));
  }

  switchTo(target: BlockDevice): BlockDevice {
    if (this.#waiting === null) throw new BlockDeviceError("switching a device's target needs it held first");
    if (target.size !== this.size) throw new BlockDeviceError(`cannot switch a ${this.size}-byte disk to a ${target.size}-byte one`);
    const old = this.#target;
    this.#target = target;
    return old;
  }

  release(): void {
    const waiting = this.#waiting ?? [];
    this.#waiting = null;
    for (const go of waiting) go();
  }

  /**
   * Fails every waiting and later request with `reason` (their clients see an
   * error, so nothing is acknowledged): for disks whose site stopped serving
   * them while they were held, e.g. the old production disks after a move.
   */
  retire(reason: string): void {
    this.#retired = reason;
    this.release();
  }

  /** Starts recording written blocks (of `blockBytes`), forgetting any recorded before. */
  track(blockBytes = 64 * 1024): void {
    this.#trackBlockBytes = blockBytes;
    this.#tracked = new Set();
  }

  /** The ranges written since `track`, merged, in order; tracking stops. */
  takeTracked(): Array<{ offset: number; length: number }> {
    const blocks = [...(this.#tracked ?? [])].sort((a, b) => a - b);
    this.#tracked = null;
    const b = this.#trackBlockBytes;
    const ranges: Array<{ offset: number; length: number }> = [];
    for (const i of blocks) {
      const last = ranges[ranges.length - 1];
      if (last && last.offset + last.length === i * b) last.length += b;
      else ranges.push({ offset: i * b, length: b });
    }
    for (const r of ranges) r.length = Math.min(r.length, this.size - r.offset);
    return ranges;
  }

  #track(offset: number, length: number): void {
    if (!this.#tracked || length <= 0) return;
    const b = this.#trackBlockBytes;
    for (let i = Math.floor(offset / b); i * b < offset + length; i++) this.#tracked.add(i);
  }

  async #call<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#waiting) await new Promise<void>((resolve) => this.#waiting!.push(resolve));
    if (this.#retired !== null) throw new BlockDeviceError(`this disk is no longer served here: ${this.#retired}`);
    this.#inflight++;
    try {
      return await fn();
    } finally {
      this.#inflight--;
      if (this.#inflight === 0 && this.#idle) {
        const idle = this.#idle;
        this.#idle = null;
        idle();
      }
    }
  }
}
