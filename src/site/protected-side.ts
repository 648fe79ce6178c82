/**
 * One group at its protected site, with replication: each disk's production
 * store (a FileDevice) wrapped by the splitter (ProtectedGroup), served over
 * NBD as `<group>/<vm>/<disk>`, and a Sender streaming to the recovery site
 * over TLS pinned at pairing.
 *
 * An initial sync (every allocated block) runs when the group's disk set is
 * new to the recovery site — the first time, and after disks were added or
 * removed (the recovery site then starts a new journal). A file records the
 * disk set once the group first streams; a restart with the same disk set
 * resumes instead, and after a crash the activity log resyncs only the hot
 * extents.
 */
import { createHash } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { FileDevice, SwitchDevice } from "../blockdev/index.js";
import { UnavailableError } from "../manager/index.js";
import type { Logger, StaticExports } from "../nbd/index.js";
import { PRIORITY_WEIGHT, ProtectedGroup, Sender, type PairBandwidth, type SiteIdentity } from "../replication/index.js";
import type { ApplianceEvent, ApplianceGroupStatus, Checkpoint, GroupSpec } from "./appliance.js";
import { writeFileAtomic } from "./files.js";

const CHECKPOINT_DURABLE_TIMEOUT_MS = 30_000;
const CLOSE_DRAIN_MS = 5_000;

/** What synced-disks.json holds when the recovery site has a copy to compare against (after reverse protection). */
export function deltaMarker(signature: string): string {
  return `delta ${signature}`;
}

export function diskSignature(spec: GroupSpec): string {
  return JSON.stringify(spec.disks.map((d) => [`${d.vm}/${d.disk}`, d.sizeBytes]));
}

/** What must stay the same for a running group to take a new spec in place. */
function restartKey(spec: GroupSpec): string {
  return JSON.stringify([diskSignature(spec), spec.peer, spec.compression, spec.checkpointIntervalMs, spec.paused]);
}

export class ProtectedSide {
  readonly spec: GroupSpec;
  readonly #group: ProtectedGroup;
  readonly #sender: Sender | undefined;
  readonly #stores: FileDevice[];
  readonly #exports: StaticExports;
  readonly #names: string[];
  /** What the exports serve: the splitter devices, behind a gate that a move closes (quiesce). */
  readonly #gates: SwitchDevice[];
  #quiesced = false;

  private constructor(spec: GroupSpec, group: ProtectedGroup, sender: Sender | undefined, stores: FileDevice[], exports: StaticExports, names: string[], gates: SwitchDevice[]) {
    this.spec = spec;
    this.#group = group;
    this.#sender = sender;
    this.#stores = stores;
    this.#exports = exports;
    this.#names = names;
    this.#gates = gates;
  }

  static async open(
    spec: GroupSpec,
    o: { identity: SiteIdentity; dataDir: string; exports: StaticExports; log: Logger; emit: (e: ApplianceEvent) => void; streamLimitBytes?: number | undefined; pair: PairBandwidth },
  ): Promise<ProtectedSide> {
    const groupDir = path.join(o.dataDir, spec.name);
    await fs.mkdir(groupDir, { recursive: true });
    const stores: FileDevice[] = [];
    try {
      for (const d of spec.disks) {
        await fs.mkdir(path.dirname(d.path), { recursive: true });
        stores.push(await FileDevice.open(d.path, { sizeBytes: d.sizeBytes }));
      }
    } catch (err) {
      for (const s of stores) await s.close();
      throw err;
    }
    const signature = diskSignature(spec);
    const hash = createHash("sha256").update(signature).digest("hex").slice(0, 12);
    const syncedFile = path.join(groupDir, "synced-disks.json");
    const synced = await fs.readFile(syncedFile, "utf8").catch(() => "");
    // Written by reverse protection: the recovery site already holds a copy of these disks, compare by hash.
    const delta = synced === deltaMarker(signature);
    const group = await ProtectedGroup.open({
      name: spec.name,
      disks: spec.disks.map((d, i) => ({ name: `${d.vm}/${d.disk}`, store: stores[i]! })),
      checkpointIntervalMs: Math.min(60_000, Math.max(100, spec.checkpointIntervalMs)),
      activityLogFile: path.join(groupDir, `activity-${hash}.log`),
      initialSync: !delta && synced !== signature,
      deltaSync: delta,
      ...(o.streamLimitBytes ? { streamLimitBytes: o.streamLimitBytes } : {}),
    });
    group.events.on((e) => {
      if (e.type === "state" && e.to === "streaming") void writeFileAtomic(syncedFile, signature).catch((err: unknown) => o.log.error({ err, group: spec.name }, "cannot record the synced disk set"));
      if (e.type === "state" && e.to === "syncing") o.emit({ kind: "bitmap-sync-started", group: spec.name, reason: e.reason, bytes: e.bytes });
      if (e.type === "state" && e.from === "syncing") o.emit({ kind: "bitmap-sync-ended", group: spec.name, reason: e.reason });
      if (e.type === "overflow") o.emit({ kind: "stream-overflow", group: spec.name, message: e.message });
      if (e.type === "delta") o.emit({ kind: "delta-sync", group: spec.name, comparedBytes: e.comparedBytes, differingBytes: e.differingBytes });
      if (e.type === "state" || e.type === "overflow" || e.type === "error") o.log.info({ group: spec.name, event: e.type }, e.message);
    });
    let sender: Sender | undefined;
    if (!spec.paused) {
      sender = new Sender({
        group,
        identity: o.identity,
        peer: { host: spec.peer.host, port: spec.peer.port, fingerprint: spec.peer.fingerprint },
        compress: spec.compression,
        ...(spec.bandwidthBytesPerSec ? { bandwidthLimitBytesPerSec: spec.bandwidthBytesPerSec } : {}),
        pair: { bandwidth: o.pair, weight: PRIORITY_WEIGHT[spec.priority] },
        backoff: { initialMs: 200, maxMs: 5000 },
      });
      sender.start();
    }
    const names: string[] = [];
    const gates: SwitchDevice[] = [];
    for (const d of spec.disks) {
      const name = `${spec.name}/${d.vm}/${d.disk}`;
      const gate = new SwitchDevice(group.device(`${d.vm}/${d.disk}`));
      o.exports.add({ name, description: `${spec.name}: VM ${d.vm}, disk ${d.disk}`, device: gate });
      names.push(name);
      gates.push(gate);
    }
    return new ProtectedSide(spec, group, sender, stores, o.exports, names, gates);
  }

  /** True when `next` can be applied to this running group without reopening it. */
  canTake(next: GroupSpec): boolean {
    return restartKey(next) === restartKey(this.spec);
  }

  async retune(next: GroupSpec): Promise<void> {
    this.#sender?.setBandwidthLimit(next.bandwidthBytesPerSec ?? undefined);
    this.#sender?.setPairWeight(PRIORITY_WEIGHT[next.priority]);
  }

  status(): ApplianceGroupStatus {
    const g = this.#group.status();
    const s = this.#sender?.status();
    const link = s?.link;
    const up = link?.kind === "connected";
    const linkReason = !link ? "replication paused" : link.kind === "backoff" || link.kind === "paused" ? link.reason : link.kind === "connecting" ? `connecting to ${this.spec.peer.site} (attempt ${link.attempt})` : link.kind;
    let sync: ApplianceGroupStatus["sync"] = { kind: "none" };
    if (g.state.kind === "syncing" || (g.state.kind === "tracking" && up)) {
      const done = g.sync?.doneBytes ?? 0;
      const total = g.sync?.totalBytes ?? Math.max(1, g.dirtyBytes);
      const reason = g.sync?.reason ?? ("reason" in g.state ? g.state.reason : "sync");
      sync = { kind: /initial/i.test(reason) ? "initial" : "bitmap", percent: total > 0 ? Math.min(100, (100 * done) / total) : 0, reason };
    }
    return {
      link: up ? "up" : "down",
      ...(up ? {} : { linkReason: `no replication link to ${this.spec.peer.site}: ${linkReason}` }),
      sync,
      rpoMs: g.rpoMs,
      throughputBytesPerSec: s?.throughputBytesPerSec ?? 0,
      queueBytes: g.queueBytes,
      replicatedBytes: s?.ackedBytes ?? 0,
      replicatedWrites: g.ackedSeq,
      compressionRatio: s?.compressionRatio ?? 1,
      exports: [...this.#names],
    };
  }

  /** A checkpoint, once the recovery site holds it durably. */
  async checkpoint(tag: string | null): Promise<Checkpoint> {
    const cp = this.#group.checkpoint(tag ?? undefined);
    if (cp.seq === undefined) {
      throw new UnavailableError("not_streaming", `group ${this.spec.name} is not streaming to ${this.spec.peer.site} now (${"reason" in this.#group.state ? this.#group.state.reason : this.#group.state.kind})`, {
        hint: "try again once lifeline status shows it protected",
      });
    }
    const seq = cp.seq;
    if (!(await this.#acked(() => seq, Date.now() + CHECKPOINT_DURABLE_TIMEOUT_MS))) {
      throw new UnavailableError("checkpoint_not_durable", `checkpoint ${cp.id} (seq ${seq}) is not yet durable at ${this.spec.peer.site}`, { hint: "the link may be slow or down; lifeline checkpoints GROUP shows it once it arrives" });
    }
    return { id: cp.id, seq, time: cp.timeMs, tag: cp.tag ?? null, consistent: cp.consistent };
  }

  /**
   * For a move: new writes wait, those in flight finish, and once the
   * recovery site holds every write (RPO 0) a final checkpoint is taken and
   * made durable there. The gates stay closed until `unquiesce` or close.
   */
  async quiesce(tag: string, timeoutMs = 120_000): Promise<Checkpoint> {
    await this.holdWrites();
    if (!(await this.#acked(() => this.#group.stream.nextSeq - 1, Date.now() + timeoutMs, { streaming: true }))) {
      this.unquiesce();
      throw new UnavailableError("not_caught_up", `group ${this.spec.name} did not catch up with ${this.spec.peer.site} within ${timeoutMs / 1000}s (${this.#group.state.kind})`, { hint: "check the link (lifeline status), then try again" });
    }
    return this.checkpoint(tag);
  }

  /** The gates of a quiesce, without waiting for the recovery site (a restart in the middle of a move). */
  async holdWrites(): Promise<void> {
    this.#quiesced = true;
    await Promise.all(this.#gates.map((g) => g.hold()));
  }

  /**
   * Polls until the recovery site holds every seq up to `target()` (read each
   * time: checkpoints keep coming); false at the deadline, or, with
   * `untilNotStreaming`, as soon as the group stops streaming.
   */
  async #acked(target: () => number, deadlineMs: number, o: { streaming?: boolean; untilNotStreaming?: boolean } = {}): Promise<boolean> {
    for (;;) {
      const streaming = this.#group.state.kind === "streaming";
      if (this.#group.stream.ackedSeq >= target() && (streaming || !o.streaming)) return true;
      if (Date.now() > deadlineMs || (o.untilNotStreaming && !streaming)) return false;
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  unquiesce(): void {
    if (!this.#quiesced) return;
    this.#quiesced = false;
    for (const g of this.#gates) g.release();
  }

  async close(): Promise<void> {
    for (const n of this.#names) this.#exports.remove(n);
    // Writes held by a quiesce must never land now: they would change disks the recovery site has taken over.
    if (this.#quiesced) for (const g of this.#gates) g.retire(`group ${this.spec.name} moved to ${this.spec.peer.site}`);
    // A clean stop lets the stream drain (briefly), so the activity log cools and a restart resyncs nothing.
    if (this.#sender && this.#group.state.kind === "streaming") await this.#acked(() => this.#group.stream.nextSeq - 1, Date.now() + CLOSE_DRAIN_MS, { streaming: true, untilNotStreaming: true });
    await this.#sender?.stop();
    await this.#group.close();
    for (const s of this.#stores) await s.close();
  }
}
