/**
 * Sends the current contents of dirty blocks: the bitmap sync after an
 * overflow, the initial sync of a disk with data, the resync of hot extents
 * after a crash. Each block is admitted like a write (its seq, under the
 * range lock), so the read sees exactly the writes before it in the stream
 * and none after: the block is a correct record at its place in the order.
 *
 * Sync blocks fill at most half the outgoing stream, so that new writes keep
 * flowing during a long sync instead of overflowing again. All-zero blocks
 * travel as a flag, not as 64 KiB of zeroes.
 */
import type { GroupState } from "./group-state.js";
import type { SyncStatus } from "./events.js";
import type { DiskState, ProtectedGroup } from "./protected-group.js";
import { ENTRY_OVERHEAD_BYTES } from "./outgoing-stream.js";

const PARALLEL_READS = 4;
const MAX_RUN_BYTES = 1024 * 1024;
const PROGRESS_EVERY_MS = 1000;

export class BlockSync {
  readonly #group: ProtectedGroup;
  readonly #disks: DiskState[];
  #running = false;
  #stopped = false;
  #inFlight = 0;
  #doneBytes = 0;
  #startedMs = 0;
  #lastProgressMs = 0;

  constructor(group: ProtectedGroup, disks: DiskState[]) {
    this.#group = group;
    this.#disks = disks;
  }

  /** Starts sending dirty blocks if the group is syncing and nothing runs yet. */
  kick(): void {
    if (this.#running || this.#stopped || this.#group.state.kind !== "syncing") return;
    this.#running = true;
    this.#doneBytes = 0;
    this.#startedMs = this.#lastProgressMs = Date.now();
    const workers = Array.from({ length: PARALLEL_READS }, () => this.#worker());
    void Promise.all(workers).then(() => {
      this.#running = false;
      if (this.#stopped || this.#group.state.kind !== "syncing") return;
      if (this.#disks.every((d) => d.bitmap.dirtyBlocks === 0)) this.#group.syncSent();
      else this.kick();
    });
  }

  stop(): void {
    this.#stopped = true;
  }

  status(state: GroupState): SyncStatus | undefined {
    if (state.kind !== "syncing") return undefined;
    const elapsedMs = Math.max(1, Date.now() - this.#startedMs);
    const rate = (this.#doneBytes / elapsedMs) * 1000;
    const left = Math.max(0, state.totalBytes - this.#doneBytes);
    return { reason: state.reason, totalBytes: state.totalBytes, doneBytes: this.#doneBytes, rateBytesPerSec: rate, etaMs: rate > 0 ? (left / rate) * 1000 : undefined };
  }

  async #worker(): Promise<void> {
    const stream = this.#group.stream;
    // Consecutive dirty blocks go as one record of up to 1 MiB: fewer reads, records and acks. The
    // workers pass the wait for room below together, so their runs together must stay a small part
    // of the stream, or on a small stream they fill it and the clients' writes overflow it.
    const runBytes = Math.min(MAX_RUN_BYTES, Math.floor(stream.limitBytes / (4 * PARALLEL_READS)));
    for (;;) {
      if (this.#stopped || this.#group.state.kind !== "syncing") return;
      const next = this.#next();
      if (!next) return;
      const { disk, block } = next;
      const run = disk.bitmap.runFrom(block, Math.max(1, Math.floor(runBytes / disk.bitmap.blockBytes)));
      const offset = disk.bitmap.range(block).offset;
      const length = Math.min(run * disk.bitmap.blockBytes, disk.spec.sizeBytes - offset);
      await stream.whenSyncRoom(length + ENTRY_OVERHEAD_BYTES);
      if (this.#stopped) return;
      // Blocks cleaned meanwhile (by another worker) are skipped; the rest stay dirty if the state changed.
      if (!disk.bitmap.anyDirty(offset, length)) continue;
      const admitted = this.#group.beginSync(disk, offset, length);
      if (!admitted) return;
      for (let b = block; b < block + run; b++) disk.bitmap.clearBlock(b);
      this.#inFlight++;
      try {
        if (admitted.wait) await admitted.wait;
        const data = await disk.store.read(offset, length);
        const zero = isZero(data);
        stream.ready(admitted.entry, { type: "sync-block", seq: admitted.entry.seq, timeMs: admitted.entry.timeMs, disk: disk.index, offset, length, data: zero ? undefined : data });
        this.#doneBytes += length;
      } catch (err) {
        disk.bitmap.mark(offset, length);
        const error = err instanceof Error ? err : new Error(String(err));
        this.#group.events.emit({ type: "error", error, message: `sync read of ${disk.spec.name} at ${offset} failed; the block stays dirty` });
        // The entry has a seq and must be filled: send it as the block's record anyway, it is re-sent later.
        stream.ready(admitted.entry, { type: "sync-block", seq: admitted.entry.seq, timeMs: admitted.entry.timeMs, disk: disk.index, offset, length, data: undefined });
        this.#stopped = true;
      } finally {
        this.#group.end(disk, admitted.held);
        this.#inFlight--;
      }
      this.#progress();
    }
  }

  #next(): { disk: DiskState; block: number } | undefined {
    for (const disk of this.#disks) {
      const block = disk.bitmap.nextDirty();
      if (block !== undefined) return { disk, block };
    }
    return undefined;
  }

  #progress(): void {
    const now = Date.now();
    if (now - this.#lastProgressMs < PROGRESS_EVERY_MS) return;
    this.#lastProgressMs = now;
    const s = this.status(this.#group.state);
    if (s) this.#group.events.emit({ type: "sync-progress", doneBytes: s.doneBytes, totalBytes: s.totalBytes, etaMs: s.etaMs });
  }
}

const ZEROES = Buffer.alloc(1024 * 1024);

function isZero(b: Buffer): boolean {
  for (let at = 0; at < b.length; at += ZEROES.length) {
    const piece = b.subarray(at, Math.min(b.length, at + ZEROES.length));
    if (!piece.equals(ZEROES.subarray(0, piece.length))) return false;
  }
  return true;
}
