/**
 * Crash safety at the source, as DRBD's activity log gives it: before a write
 * lands in a 4 MiB extent that is not hot, the extent is marked hot in a small
 * on-disk log (written atomically, and batched: every write that needs a new
 * hot extent in the same turn shares one fsync). An extent cools when the
 * recovery site acknowledged every write in it and no block of it is dirty.
 * After a crash (even SIGKILL), the hot extents are all that can differ
 * between production and the recovery site, so only they are resynced.
 *
 * A write's record is not let out of the outgoing stream before its extent is
 * durably hot (see ProtectedGroup.begin): otherwise a crash could leave the
 * recovery site holding a write that production never got, in a cold extent.
 */
import fs from "node:fs/promises";
import { writeFileAtomic } from "./atomic-file.js";
import { ReplicationError } from "./errors.js";

export const EXTENT_BYTES = 4 * 1024 * 1024;

const COLD = 0;
const PENDING = 1;
const HOT = 2;

interface DiskExtents {
  name: string;
  state: Uint8Array;
  /** Highest seq of a record in the extent (writes and sync blocks). */
  lastSeq: Float64Array;
  inFlight: Int32Array;
}

interface LogFile {
  version: 1;
  extentBytes: number;
  disks: { name: string; hot: number[] }[];
}

export class ActivityLog {
  readonly file: string;
  readonly #disks: DiskExtents[];
  /** The persist that the next newly hot extents join. */
  #next: { promise: Promise<void>; resolve: () => void; reject: (e: Error) => void } | undefined;
  #writing: Promise<void> = Promise.resolve();
  #writes = 0;

  private constructor(file: string, disks: DiskExtents[]) {
    this.file = file;
    this.#disks = disks;
  }

  /** Opens (or creates) the log; returns the hot extents found, which a crash may have left unsynced. */
  static async open(file: string, disks: { name: string; sizeBytes: number }[]): Promise<{ log: ActivityLog; hot: { disk: number; offset: number; length: number }[] }> {
    const extents: DiskExtents[] = disks.map((d) => {
      const n = Math.ceil(d.sizeBytes / EXTENT_BYTES);
      return { name: d.name, state: new Uint8Array(n), lastSeq: new Float64Array(n), inFlight: new Int32Array(n) };
    });
    const hot: { disk: number; offset: number; length: number }[] = [];
    let text: string | undefined;
    try {
      text = await fs.readFile(file, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw new ReplicationError(`cannot read the activity log ${file}`, { cause: err });
    }
    if (text !== undefined) {
      const saved = JSON.parse(text) as LogFile;
      if (saved.version !== 1 || saved.extentBytes !== EXTENT_BYTES) throw new ReplicationError(`activity log ${file} has an unknown format`, { hint: "move it away; the group then needs a full (delta) sync" });
      for (const s of saved.disks) {
        const i = disks.findIndex((d) => d.name === s.name);
        if (i < 0) continue;
        for (const e of s.hot) {
          if (e >= extents[i]!.state.length) continue;
          extents[i]!.state[e] = HOT;
          hot.push({ disk: i, offset: e * EXTENT_BYTES, length: Math.min(EXTENT_BYTES, disks[i]!.sizeBytes - e * EXTENT_BYTES) });
        }
      }
    }
    const log = new ActivityLog(file, extents);
    if (text === undefined) await log.#persist();
    return { log, hot };
  }

  get hotExtents(): number {
    return this.#disks.reduce((n, d) => n + d.state.reduce((c, s) => c + (s === COLD ? 0 : 1), 0), 0);
  }

  /** Times the log was written (a measure of the batching). */
  get writes(): number {
    return this.#writes;
  }

  /**
   * A write starts in [offset, offset+length): counts it in flight, and
   * returns a promise when some extent must first become durably hot.
   */
  begin(disk: number, offset: number, length: number): Promise<void> | undefined {
    const d = this.#disks[disk]!;
    let wait: Promise<void> | undefined;
    const [first, last] = span(offset, length);
    for (let e = first; e <= last; e++) {
      d.inFlight[e]!++;
      if (d.state[e] === HOT) continue;
      if (d.state[e] === COLD) d.state[e] = PENDING;
      wait = this.#nextPersist();
    }
    return wait;
  }

  end(disk: number, offset: number, length: number): void {
    const d = this.#disks[disk]!;
    const [first, last] = span(offset, length);
    for (let e = first; e <= last; e++) d.inFlight[e]!--;
  }

  /** Makes extents hot ahead of a sync of their blocks (initial sync): resolves once durable. */
  markHot(disk: number, offset: number, length: number): Promise<void> {
    const d = this.#disks[disk]!;
    const [first, last] = span(offset, length);
    for (let e = first; e <= last; e++) if (d.state[e] === COLD) d.state[e] = PENDING;
    return this.#nextPersist();
  }

  /** A record with `seq` covers the range: the extent stays hot until it is acknowledged. */
  note(disk: number, offset: number, length: number, seq: number): void {
    const d = this.#disks[disk]!;
    const [first, last] = span(offset, length);
    for (let e = first; e <= last; e++) if (d.lastSeq[e]! < seq) d.lastSeq[e] = seq;
  }

  /** Cools every hot extent whose records are all acknowledged and which `isDirty` says holds no dirty block. */
  cool(ackedSeq: number, isDirty: (disk: number, offset: number, length: number) => boolean): Promise<void> {
    let changed = false;
    for (const [i, d] of this.#disks.entries()) {
      for (let e = 0; e < d.state.length; e++) {
        if (d.state[e] !== HOT || d.inFlight[e] !== 0 || d.lastSeq[e]! > ackedSeq) continue;
        if (isDirty(i, e * EXTENT_BYTES, EXTENT_BYTES)) continue;
        d.state[e] = COLD;
        changed = true;
      }
    }
    return changed ? this.#nextPersist() : Promise.resolve();
  }

  #nextPersist(): Promise<void> {
    if (this.#next) return this.#next.promise;
    let resolve!: () => void;
    let reject!: (e: Error) => void;
    const promise = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // Callers that only cool do not wait; do not let a failure of theirs go unhandled.
    promise.catch(() => undefined);
    const next = { promise, resolve, reject };
    this.#next = next;
    this.#writing = this.#writing.then(async () => {
      this.#next = undefined;
      const pending: [DiskExtents, number][] = [];
      for (const d of this.#disks) for (let e = 0; e < d.state.length; e++) if (d.state[e] === PENDING) pending.push([d, e]);
      try {
        await this.#persist();
        for (const [d, e] of pending) d.state[e] = HOT;
        next.resolve();
      } catch (err) {
        for (const [d, e] of pending) d.state[e] = COLD;
        next.reject(new ReplicationError(`cannot write the activity log ${this.file}: ${(err as Error).message}`, { cause: err, hint: "free space on the appliance's disk" }));
      }
    });
    return promise;
  }

  async #persist(): Promise<void> {
    const body: LogFile = {
      version: 1,
      extentBytes: EXTENT_BYTES,
      disks: this.#disks.map((d) => ({ name: d.name, hot: [...d.state.keys()].filter((e) => d.state[e] !== COLD) })),
    };
    this.#writes++;
    await writeFileAtomic(this.file, JSON.stringify(body));
  }
}

function span(offset: number, length: number): [number, number] {
  return [Math.floor(offset / EXTENT_BYTES), Math.floor((offset + Math.max(length, 1) - 1) / EXTENT_BYTES)];
}
