/**
 * One protection group at the recovery site: its journal, the one sender
 * connection allowed at a time, and the pause when the journal fails. The
 * stream arrives in seq order; a record the journal already holds (resent
 * after a reconnect) is dropped, a gap is a protocol error, and nothing
 * reaches the journal before it passed the checks here (STYLE 8).
 *
 * A failed append (journal full, disk error) pauses the group: the sender is
 * told, the journal is closed and reopened (the open cuts a torn tail), and
 * the sender, which kept everything unacknowledged, resends from the durable
 * seq once it reconnects. Nothing acknowledged is ever lost.
 */
import type { AppendInput } from "../journal/index.js";
import { ProtocolError, ReceiverPausedError } from "./errors.js";
import { Emitter } from "./events.js";
import type { DiskSpec, StreamRecord } from "./frames.js";
import type { JournalSink, JournalStore } from "./journal-sink.js";

const MAX_WRITE_BYTES = 32 * 1024 * 1024;

export type ReceiverGroupState =
  | { kind: "closed" }
  | { kind: "ready"; journal: JournalSink }
  | { kind: "paused"; reason: string; sinceMs: number; retryInMs: number }
  /** Replication stopped on purpose (the group failed over here): the journal stays open for recovery, no sender is let in. */
  | { kind: "held"; journal: JournalSink; reason: string };

export type ReceiverEvent =
  | { type: "paused"; group: string; reason: string; error: Error }
  | { type: "resumed"; group: string; pausedMs: number; durableSeq: number }
  | { type: "duplicates"; group: string; count: number }
  | { type: "connection"; group: string; peer: string; state: "open" | "closed"; reason: string };

export class ReceiverGroup {
  readonly name: string;
  readonly #store: JournalStore;
  readonly #events: Emitter<ReceiverEvent>;
  readonly #retryMaxMs: number;
  #state: ReceiverGroupState = { kind: "closed" };
  #disks: DiskSpec[] = [];
  /** The last append handed to the journal: appends settle in order. */
  #lastAppend: Promise<unknown> = Promise.resolve();
  #expectSeq = 0;
  #retryTimer: NodeJS.Timeout | undefined;
  #onPause: ((reason: string) => void) | undefined;
  #duplicates = 0;

  constructor(name: string, store: JournalStore, events: Emitter<ReceiverEvent>, retryMaxMs = 5000) {
    this.name = name;
    this.#store = store;
    this.#events = events;
    this.#retryMaxMs = retryMaxMs;
  }

  get state(): ReceiverGroupState {
    return this.#state;
  }

  get journal(): JournalSink | undefined {
    return this.#state.kind === "ready" || this.#state.kind === "held" ? this.#state.journal : undefined;
  }

  /** Stops taking the stream (the caller hangs up the sender); appends in flight settle first. */
  async hold(reason: string): Promise<void> {
    await this.#lastAppend.catch(() => undefined);
    const s = this.#state;
    if (s.kind === "ready") this.#state = { kind: "held", journal: s.journal, reason };
    else if (s.kind === "held") this.#state = { ...s, reason };
    else throw new ReceiverPausedError(`group ${this.name} cannot stop replication: it is ${s.kind}`);
  }

  /** Takes the stream again after `hold`: the sender resumes from the durable seq. */
  release(): void {
    const s = this.#state;
    if (s.kind === "held") this.#state = { kind: "ready", journal: s.journal };
  }

  async open(): Promise<void> {
    this.#state = { kind: "ready", journal: await this.#store.open() };
  }

  /**
   * A sender connects: checks its disks, waits for the previous connection's
   * appends to settle, and returns the durable seq to tell it.
   */
  async accept(disks: DiskSpec[], onPause: (reason: string) => void): Promise<number> {
    await this.#lastAppend.catch(() => undefined);
    const s = this.#state;
    if (s.kind === "paused") throw new ReceiverPausedError(`group ${this.name} is paused: ${s.reason}`, { hint: "it resumes by itself when the journal takes writes again" });
    if (s.kind === "closed") throw new ReceiverPausedError(`group ${this.name} is not open here`);
    if (s.kind === "held") throw new ReceiverPausedError(`group ${this.name} takes no replication here: ${s.reason}`, { hint: "roll back the failover, or reverse protection, to replicate again" });
    const mine = s.journal.disks;
    const same = disks.length === mine.length && disks.every((d, i) => d.name === mine[i]!.name && d.sizeBytes === mine[i]!.sizeBytes);
    if (!same) {
      throw new ProtocolError(`the sender's disks (${disks.map((d) => `${d.name}:${d.sizeBytes}`).join(", ")}) are not this journal's (${mine.map((d) => `${d.name}:${d.sizeBytes}`).join(", ")})`, {
        hint: "the group's disks changed at the protected site; re-pair the group",
      });
    }
    this.#disks = disks;
    this.#onPause = onPause;
    this.#expectSeq = s.journal.lastSeq + 1;
    return s.journal.lastSeq;
  }

  /** Checks and appends one record; `acked` is called when more is durable. Throws ProtocolError. */
  receive(r: StreamRecord, acked: (durableSeq: number) => void): void {
    this.receiveBatch([r], acked);
  }

  /**
   * Checks and appends a frame's records as one batch. A record that fails
   * its checks is a ProtocolError (thrown after the records before it are
   * appended, as if they had come alone); nothing from it on is appended.
   */
  receiveBatch(records: readonly StreamRecord[], acked: (durableSeq: number) => void): void {
    const s = this.#state;
    if (s.kind !== "ready") return;
    const inputs: AppendInput[] = [];
    let refused: unknown;
    for (const r of records) {
      if (r.seq < this.#expectSeq) {
        if (++this.#duplicates % 1024 === 1) this.#events.emit({ type: "duplicates", group: this.name, count: this.#duplicates });
        continue;
      }
      try {
        if (r.seq !== this.#expectSeq) throw new ProtocolError(`seq ${r.seq} arrived where ${this.#expectSeq} was expected`);
        inputs.push(this.#check(r));
      } catch (err) {
        refused = err;
        break;
      }
      this.#expectSeq++;
    }
    if (inputs.length > 0) {
      const journal = s.journal;
      const p = journal.appendMany(inputs);
      this.#lastAppend = p;
      p.then(
        () => acked(journal.durableSeq),
        (err: unknown) => this.#pause(err instanceof Error ? err : new Error(String(err))),
      );
    }
    if (refused !== undefined) throw refused;
  }

  /** Hashes of a range of disk `disk` (by the sender's index) at the newest point, for delta sync. */
  async hashes(disk: number, offset: number, length: number, blockBytes: number): Promise<Buffer> {
    const s = this.#state;
    const d = this.#disks[disk];
    if (s.kind !== "ready") throw new ReceiverPausedError(`group ${this.name} is not ready`);
    if (!d || offset + length > d.sizeBytes || blockBytes < 4096 || length / blockBytes > 65536) {
      throw new ProtocolError(`a hash request for ${offset}+${length} of disk ${disk} in ${blockBytes}-byte blocks is out of bounds`);
    }
    if (!s.journal.hashes) throw new ProtocolError("this recovery site cannot hash blocks (no delta sync)");
    await this.#lastAppend.catch(() => undefined);
    return s.journal.hashes(d.name, offset, length, blockBytes);
  }

  async close(): Promise<void> {
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    await this.#lastAppend.catch(() => undefined);
    const s = this.#state;
    this.#state = { kind: "closed" };
    if (s.kind === "ready" || s.kind === "held") await s.journal.close();
  }

  #check(r: StreamRecord): AppendInput {
    if (r.type === "checkpoint") return { type: "checkpoint", seq: r.seq, timeMs: r.timeMs, id: r.id, tag: r.tag, consistent: r.consistent };
    const disk = this.#disks[r.disk];
    if (!disk) throw new ProtocolError(`seq ${r.seq} names disk ${r.disk}, and the group has ${this.#disks.length}`);
    const length = r.type === "write" ? r.data.length : r.length;
    if (r.offset + length > disk.sizeBytes) throw new ProtocolError(`seq ${r.seq}: range ${r.offset}+${length} is past the end of ${disk.name}`);
    if (length > MAX_WRITE_BYTES) throw new ProtocolError(`seq ${r.seq}: a record of ${length} bytes is larger than the journal takes`);
    switch (r.type) {
      case "write":
        return { type: "write", seq: r.seq, timeMs: r.timeMs, disk: disk.name, offset: r.offset, data: r.data, dataCrc: r.dataCrc };
      case "zero":
      case "trim":
        return { type: r.type, seq: r.seq, timeMs: r.timeMs, disk: disk.name, offset: r.offset, length: r.length };
      case "sync-block":
        return r.data
          ? { type: "write", seq: r.seq, timeMs: r.timeMs, disk: disk.name, offset: r.offset, data: r.data, dataCrc: r.dataCrc }
          : { type: "zero", seq: r.seq, timeMs: r.timeMs, disk: disk.name, offset: r.offset, length: r.length };
    }
  }

  #pause(error: Error): void {
    const s = this.#state;
    if (s.kind !== "ready") return;
    const reason = `the journal failed: ${error.message}`;
    this.#state = { kind: "paused", reason, sinceMs: Date.now(), retryInMs: 200 };
    this.#events.emit({ type: "paused", group: this.name, reason, error });
    this.#onPause?.(reason);
    void s.journal.close().catch(() => undefined).then(() => this.#scheduleReopen());
  }

  #scheduleReopen(): void {
    const s = this.#state;
    if (s.kind !== "paused") return;
    this.#retryTimer = setTimeout(() => {
      this.#store.open().then(
        (journal) => {
          if (this.#state.kind !== "paused") return void journal.close();
          this.#state = { kind: "ready", journal };
          this.#events.emit({ type: "resumed", group: this.name, pausedMs: Date.now() - s.sinceMs, durableSeq: journal.lastSeq });
        },
        () => {
          this.#state = { ...s, retryInMs: Math.min(this.#retryMaxMs, s.retryInMs * 2) };
          this.#scheduleReopen();
        },
      );
    }, s.retryInMs);
  }
}
