/**
 * One group at its recovery site: its journal (with the replica files) in
 * `data/<group>/`, registered with the site's Receiver. A journal holds a
 * fixed set of disks, so when the protected site adds or removes disks the old
 * journal is set aside (renamed, never deleted) and a new one starts; the
 * protected site then sends everything again (an initial sync).
 */
import fs from "node:fs/promises";
import path from "node:path";
import { Journal, type JournalEvent } from "../journal/index.js";
import type { Logger } from "../nbd/index.js";
import { journalStore, type Receiver, type ReceiverGroup } from "../replication/index.js";
import type { ApplianceEvent, ApplianceGroupStatus, Checkpoint, CheckpointFilter, GroupSpec } from "./appliance.js";
import { diskSignature } from "./protected-side.js";

export class RecoverySide {
  readonly spec: GroupSpec;
  readonly #group: ReceiverGroup;
  readonly #journal: () => Journal | undefined;
  readonly #receiver: Receiver;
  #link: { up: boolean; reason: string } = { up: false, reason: "waiting for the protected site to connect" };

  private constructor(spec: GroupSpec, group: ReceiverGroup, journal: () => Journal | undefined, receiver: Receiver) {
    this.spec = spec;
    this.#group = group;
    this.#journal = journal;
    this.#receiver = receiver;
  }

  static async open(spec: GroupSpec, o: { receiver: Receiver; dataDir: string; log: Logger; emit: (e: ApplianceEvent) => void }): Promise<RecoverySide> {
    const dir = path.join(o.dataDir, spec.name);
    const disks = spec.disks.map((d) => ({ name: `${d.vm}/${d.disk}`, sizeBytes: d.sizeBytes }));
    const exists = await fs.stat(path.join(dir, "group.json")).then(() => true, () => false);
    if (exists) {
      const j = await Journal.open(dir, { promoteEveryMs: 0 });
      const same = JSON.stringify(j.disks.map((d) => [d.name, d.sizeBytes])) === diskSignature(spec);
      await j.close();
      if (!same) {
        const aside = `${dir}.before-${new Date().toISOString().replace(/[:.]/g, "-")}`;
        await fs.rename(dir, aside);
        o.log.warn({ group: spec.name, aside }, "the group's disks changed: the old journal is kept aside and a new one starts");
      }
    }
    if (!exists || !(await fs.stat(path.join(dir, "group.json")).then(() => true, () => false))) {
      await (await Journal.create(dir, { disks, historyWindowMs: spec.historyMs, limitBytes: spec.journalLimitBytes })).close();
    }
    let journal: Journal | undefined;
    /** The history covered when the limit was reached: the alert says how far the early promotion shrank it. */
    let atLimit: { historyBeforeMs: number } | undefined;
    const store = journalStore(dir, {
      onOpen: (j) => {
        journal = j;
        j.on((e: JournalEvent) => {
          if (e.type === "limit-warning") o.emit({ kind: "journal-warning", group: spec.name, bytes: e.sizeBytes, limitBytes: e.limitBytes });
          if (e.type === "limit-reached") atLimit = { historyBeforeMs: historyCoveredMs(j) };
          if (e.type === "promoted" && atLimit) {
            o.emit({ kind: "journal-limit", group: spec.name, historyBeforeMs: atLimit.historyBeforeMs, historyAfterMs: historyCoveredMs(j) });
            atLimit = undefined;
          }
          if (e.type === "limit-cleared") o.emit({ kind: "journal-under-limit", group: spec.name, bytes: e.sizeBytes, limitBytes: e.limitBytes });
          if (e.type === "pin-revoked") o.emit({ kind: "pin-revoked", group: spec.name, pinKind: e.pin.kind, reason: e.reason });
          if (e.type === "pin-blocks-limit") o.emit({ kind: "pin-blocks-limit", group: spec.name, pinKind: e.pin.kind, seq: e.pin.seq });
        });
      },
    });
    await o.receiver.group(spec.name)?.close();
    const group = await o.receiver.addGroup(spec.name, store);
    return new RecoverySide(spec, group, () => journal, o.receiver);
  }

  /** The open journal (undefined while the receiver reopens it after a failure). */
  get journal(): Journal | undefined {
    return this.#journal();
  }

  stopReplication(reason: string): Promise<void> {
    return this.#receiver.hold(this.spec.name, reason);
  }

  resumeReplication(): void {
    this.#receiver.release(this.spec.name);
  }

  /** The group's history window or journal limit changed. */
  async retune(next: GroupSpec): Promise<void> {
    await this.#journal()?.configure({ historyWindowMs: next.historyMs, limitBytes: next.journalLimitBytes });
  }

  canTake(next: GroupSpec): boolean {
    return diskSignature(next) === diskSignature(this.spec);
  }

  setLink(up: boolean, reason: string): void {
    this.#link = { up, reason };
  }

  status(exports: string[]): ApplianceGroupStatus {
    const j = this.#journal();
    const state = this.#group.state;
    if (state.kind === "held") return { ...this.#idle(j), link: "none", linkReason: `replication stopped: ${state.reason}`, exports };
    return {
      link: this.#link.up ? "up" : "down",
      ...(this.#link.up ? {} : { linkReason: state.kind === "paused" ? `journal paused: ${state.reason}` : `no replication link from ${this.spec.peer.site}: ${this.#link.reason}` }),
      ...this.#idle(j),
      exports,
    };
  }

  #idle(j: Journal | undefined): Omit<ApplianceGroupStatus, "link" | "exports"> {
    return {
      sync: { kind: "none" },
      rpoMs: null,
      throughputBytesPerSec: 0,
      queueBytes: 0,
      replicatedBytes: 0,
      replicatedWrites: j?.durableSeq ?? 0,
      compressionRatio: 1,
      ...(j ? { journal: { bytes: j.sizeBytes, historyMs: historyCoveredMs(j), limitBytes: this.spec.journalLimitBytes } } : {}),
    };
  }

  listCheckpoints(filter: CheckpointFilter): Checkpoint[] {
    const j = this.#journal();
    if (!j) return [];
    return j.checkpoints
      .list({ ...(filter.sinceMs !== undefined ? { fromMs: filter.sinceMs } : {}), ...(filter.tag !== undefined ? { tag: filter.tag } : {}) })
      // Only points a view can open: not those a running promotion is taking (they go from the list when it ends).
      .filter((c) => c.seq <= j.durableSeq && c.seq >= j.oldestViewableSeq)
      .map((c) => ({ id: c.id, seq: c.seq, time: c.timeMs, tag: c.tag ?? null, consistent: c.consistent }));
  }

  async close(): Promise<void> {
    await this.#group.close();
  }
}

/** How far back the journal reaches now: from its oldest checkpoint. */
function historyCoveredMs(j: Journal): number {
  const first = j.checkpoints.list()[0];
  return first ? Date.now() - first.timeMs : 0;
}
