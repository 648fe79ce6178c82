/**
 * The torture's recording writer: one write at a time, across every recorded
 * disk of the group, through real NBD connections to the protected site.
 * Each write is recorded in the history before it is sent; a write whose
 * connection broke (the daemon was killed) stays pending and is sent again,
 * same id and bytes, before anything else once the site is back: so the
 * writes the site holds are always a prefix of the history.
 */
import { RawClient } from "../nbd/client.js";
import { BLOCK, countBelow, WriteHistory } from "./history.js";
import type { Random } from "./random.js";

/** Where a site serves NBD. */
export interface NbdEndpoint {
  host: string;
  port: number;
}

interface Write {
  disk: number;
  offset: number;
  data: Buffer;
}

export class TortureWriter {
  readonly history: WriteHistory;
  readonly #endpoint: () => NbdEndpoint | undefined;
  readonly #random: Random;
  readonly #clients = new Map<number, RawClient>();
  #pending: Write | undefined;
  #running = false;
  #loop: Promise<void> | undefined;
  /** Bytes per second, or undefined: as fast as the site takes them (a burst). */
  rateBytesPerSec: number | undefined;
  #nextAtMs = 0;
  acked = 0;
  ackedBytes = 0;
  reconnects = 0;
  /** When each write was issued (by id), and when each was acknowledged (the nth ack, in id order). */
  readonly #issuedAtMs: number[] = [];
  readonly #ackedAtMs: number[] = [];

  constructor(history: WriteHistory, endpoint: () => NbdEndpoint | undefined, random: Random, rateBytesPerSec?: number) {
    this.history = history;
    this.#endpoint = endpoint;
    this.#random = random;
    this.rateBytesPerSec = rateBytesPerSec;
  }

  /** What the site must hold at least (acknowledged) and at most (issued). */
  get bounds(): { lo: number; hi: number } {
    return { lo: this.acked, hi: this.history.count };
  }

  /**
   * What a point taken at `timeMs` by the protected site's clock (this
   * machine's) must hold: every write acknowledged before it, and nothing
   * issued after it. A few milliseconds of slack each way cover the clock's
   * granularity and the time between a point's seq and its timestamp.
   */
  boundsAt(timeMs: number): { lo: number; hi: number } {
    return { lo: countBelow(this.#ackedAtMs, timeMs - 20), hi: countBelow(this.#issuedAtMs, timeMs + 50) };
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#nextAtMs = Date.now();
    this.#loop = this.#run();
  }

  /** Stops after the write in flight (acknowledged, or failed and left pending). */
  async pause(): Promise<void> {
    this.#running = false;
    await this.#loop;
    this.#loop = undefined;
  }

  close(): void {
    for (const c of this.#clients.values()) c.close();
    this.#clients.clear();
  }

  async #run(): Promise<void> {
    while (this.#running) {
      const w = (this.#pending ??= this.#next());
      try {
        const client = await this.#client(w.disk);
        await client.writeBytes(w.offset, w.data);
      } catch {
        // The site went away mid-write: start over on new connections, this write first.
        this.close();
        this.reconnects++;
        await sleep(250);
        continue;
      }
      this.#pending = undefined;
      this.#ackedAtMs.push(Date.now());
      this.acked++;
      this.ackedBytes += w.data.length;
      if (this.rateBytesPerSec !== undefined) {
        this.#nextAtMs = Math.max(this.#nextAtMs, Date.now() - 1000) + (w.data.length / this.rateBytesPerSec) * 1000;
        const wait = this.#nextAtMs - Date.now();
        if (wait > 0) await sleep(wait);
      }
    }
  }

  #next(): Write {
    const disk = this.#random.int(this.history.disks.length);
    const blocks = this.history.disks[disk]!.sizeBytes / BLOCK;
    const count = 1 + this.#random.int(16);
    const first = this.#random.int(blocks - count + 1);
    const { data } = this.history.issue(disk, first, count);
    this.#issuedAtMs.push(Date.now());
    return { disk, offset: first * BLOCK, data };
  }

  async #client(disk: number): Promise<RawClient> {
    const open = this.#clients.get(disk);
    if (open) return open;
    const at = this.#endpoint();
    if (at === undefined) throw new Error("the protected site is down");
    const { client } = await RawClient.session(at.port, this.history.disks[disk]!.name, { host: at.host });
    this.#clients.set(disk, client);
    return client;
  }
}

/** Reads a whole export (a recovered or production disk) over NBD. */
export async function readExport(at: NbdEndpoint, name: string): Promise<Buffer> {
  const { client, size } = await RawClient.session(at.port, name, { host: at.host });
  try {
    const image = Buffer.alloc(size);
    const step = 4 * 1024 * 1024;
    const reads: Promise<void>[] = [];
    for (let off = 0; off < size; off += step) {
      const n = Math.min(step, size - off);
      reads.push(client.readBytes(off, n).then((b) => void b.copy(image, off)));
    }
    await Promise.all(reads);
    return image;
  } finally {
    client.close();
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
