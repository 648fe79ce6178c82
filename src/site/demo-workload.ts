/**
 * The demo's built-in workload: what a small database server does to its
 * disks — random 4 KiB page writes to a data disk, sequential 64 KiB appends
 * to a log disk that wraps around, an occasional flush — a few MB/s in all.
 * It writes through the devices the NBD server serves (the splitter), so its
 * writes are replicated exactly as a hypervisor's would be.
 */
import { randomBytes } from "node:crypto";
import type { BlockDevice } from "../blockdev/index.js";

export interface WorkloadTarget {
  device: BlockDevice;
  kind: "random" | "log";
}

export class DemoWorkload {
  readonly #targets: WorkloadTarget[];
  readonly #tickMs: number;
  #timer: NodeJS.Timeout | undefined;
  #inFlight: Promise<void> = Promise.resolve();
  #logOffset = new Map<BlockDevice, number>();
  #bytes = 0;
  #errors = 0;
  #lastError: Error | undefined;

  constructor(targets: WorkloadTarget[], tickMs = 50) {
    this.#targets = targets;
    this.#tickMs = tickMs;
  }

  get bytesWritten(): number {
    return this.#bytes;
  }

  get lastError(): Error | undefined {
    return this.#lastError;
  }

  start(): void {
    this.#timer ??= setInterval(() => {
      // One tick at a time: a slow disk slows the workload instead of piling up writes.
      this.#inFlight = this.#inFlight.then(() => this.#tick()).catch((err: unknown) => {
        this.#errors++;
        this.#lastError = err as Error;
      });
    }, this.#tickMs);
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#inFlight;
  }

  async #tick(): Promise<void> {
    const writes: Promise<void>[] = [];
    for (const t of this.#targets) {
      if (t.kind === "random") {
        for (let i = 0; i < 2; i++) {
          const blocks = Math.floor(t.device.size / 4096);
          writes.push(t.device.write(Math.floor(Math.random() * blocks) * 4096, randomBytes(4096)));
          this.#bytes += 4096;
        }
      } else {
        const at = this.#logOffset.get(t.device) ?? 0;
        const next = at + 65536 > t.device.size ? 0 : at;
        writes.push(t.device.write(next, randomBytes(65536)));
        this.#logOffset.set(t.device, next + 65536);
        this.#bytes += 65536;
      }
    }
    await Promise.all(writes);
    if (Math.random() < 0.1) await Promise.all(this.#targets.map((t) => t.device.flush()));
  }
}
