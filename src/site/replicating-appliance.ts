/**
 * The appliance with replication (src/replication): one NBD server for the
 * protected groups' disks, one Receiver (TLS 1.3, pinned peers) for the groups
 * this site is the recovery site of, and per group a ProtectedSide or a
 * RecoverySide. A group without disks runs nothing until it has some.
 */
import fs from "node:fs/promises";
import type { BlockDevice } from "../blockdev/index.js";
import { NbdServer, StaticExports, type Logger } from "../nbd/index.js";
import { ConflictError } from "../manager/index.js";
import { PairBandwidth, Receiver, normalizeFingerprint, type SiteIdentity as ReplicationIdentity } from "../replication/index.js";
import { nbdUri, type Appliance, type ApplianceEvent, type ApplianceGroupStatus, type Checkpoint, type CheckpointFilter, type GroupSpec, type RecoveryAccess } from "./appliance.js";
import type { SiteIdentity } from "./identity.js";
import { ProtectedSide } from "./protected-side.js";
import { RecoverySide } from "./recovery-side.js";

export interface ReplicatingApplianceOptions {
  site: string;
  host: string;
  nbdPort: number;
  replicationPort: number;
  identity: SiteIdentity;
  /** Fingerprints of the paired sites, allowed to send to this one. */
  pinnedPeers: string[];
  dataDir: string;
  logger: Logger;
  /** Each protected group's outgoing stream limit (ProtectedGroup's default when absent). */
  streamBufferBytes?: number;
}

type Side = ProtectedSide | RecoverySide;

export class ReplicatingAppliance implements Appliance {
  readonly #o: ReplicatingApplianceOptions;
  readonly #identity: ReplicationIdentity;
  readonly #exports = new StaticExports();
  readonly #nbd: NbdServer;
  readonly #receiver: Receiver;
  /** Read by the Receiver at each connection, so peers paired later are let in. */
  readonly #pinned: string[];
  readonly #sides = new Map<string, Side>();
  readonly #pairs = new Map<string, PairBandwidth>();
  readonly #specs = new Map<string, GroupSpec>();
  readonly #listeners: ((e: ApplianceEvent) => void)[] = [];
  #nbdAddress = { host: "127.0.0.1", port: 0 };
  #replicationPort = 0;
  /** Changes to one group run one at a time. */
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(o: ReplicatingApplianceOptions) {
    this.#o = o;
    this.#identity = { site: o.site, keyPem: o.identity.keyPem, certPem: o.identity.certPem, fingerprint: normalizeFingerprint(o.identity.fingerprint) };
    this.#pinned = o.pinnedPeers.map(normalizeFingerprint);
    this.#nbd = new NbdServer({ exports: this.#exports, logger: o.logger });
    this.#receiver = new Receiver({ identity: this.#identity, pinnedPeers: this.#pinned });
    this.#receiver.events.on((e) => {
      if (e.type === "connection") {
        const side = this.#sides.get(e.group);
        if (side instanceof RecoverySide) side.setLink(e.state === "open", e.reason);
        o.logger.info({ group: e.group, peer: e.peer, reason: e.reason }, `replication connection ${e.state}`);
      } else if (e.type === "paused") {
        const code = (e.error as NodeJS.ErrnoException).code ?? ((e.error.cause as NodeJS.ErrnoException | undefined)?.code);
        this.#emit({ kind: "storage-full", group: e.group, message: e.reason, full: code === "ENOSPC" || code === "EDQUOT" || /ENOSPC|EDQUOT|no space/i.test(e.reason) });
      } else if (e.type === "resumed") {
        this.#emit({ kind: "storage-resumed", group: e.group, pausedMs: e.pausedMs });
      } else if (e.type === "refused") {
        o.logger.warn({ peer: e.peer, reason: e.reason }, "replication connection refused");
      }
    });
  }

  static async start(o: ReplicatingApplianceOptions): Promise<ReplicatingAppliance> {
    const a = new ReplicatingAppliance(o);
    a.#nbdAddress = await a.#nbd.listen(o.nbdPort, o.host);
    try {
      a.#replicationPort = (await a.#receiver.listen(o.replicationPort, o.host)).port;
    } catch (err) {
      await a.#nbd.close();
      throw err;
    }
    return a;
  }

  get nbdAddress(): { host: string; port: number } {
    return this.#nbdAddress;
  }

  get replicationPort(): number {
    return this.#replicationPort;
  }

  protect(spec: GroupSpec): Promise<void> {
    return this.#serial(async () => {
      const fp = normalizeFingerprint(spec.peer.fingerprint);
      if (!this.#pinned.includes(fp)) this.#pinned.push(fp);
      this.#specs.set(spec.name, spec);
      const side = this.#sides.get(spec.name);
      const sameRole = side && (side instanceof ProtectedSide ? "protected" : "recovery") === spec.role;
      if (side && sameRole && side.canTake(spec)) {
        await side.retune(spec);
        return;
      }
      if (side) {
        this.#sides.delete(spec.name);
        await side.close();
      }
      if (spec.disks.length === 0) return;
      const o = this.#o;
      const opened =
        spec.role === "protected"
          ? await ProtectedSide.open(spec, {
              identity: this.#identity,
              dataDir: o.dataDir,
              exports: this.#exports,
              log: o.logger,
              emit: (e) => this.#emit(e),
              streamLimitBytes: o.streamBufferBytes,
              pair: this.#pair(spec.peer.site),
            })
          : await RecoverySide.open(spec, { receiver: this.#receiver, dataDir: o.dataDir, log: o.logger, emit: (e) => this.#emit(e) });
      this.#sides.set(spec.name, opened);
    });
  }

  setPairBandwidth(peer: string, bytesPerSec: number | null): void {
    this.#pair(peer).setRate(bytesPerSec ?? undefined);
  }

  /** The bandwidth of the link to `peer`, one for all the groups that replicate to it. */
  #pair(peer: string): PairBandwidth {
    let pair = this.#pairs.get(peer);
    if (!pair) this.#pairs.set(peer, (pair = new PairBandwidth()));
    return pair;
  }

  unprotect(group: string, options: { deleteData: boolean }): Promise<void> {
    return this.#serial(async () => {
      const side = this.#sides.get(group);
      this.#sides.delete(group);
      const spec = this.#specs.get(group);
      this.#specs.delete(group);
      await side?.close();
      if (options.deleteData && spec?.role === "protected") {
        for (const d of spec.disks.filter((x) => !x.existing)) await fs.rm(d.path, { force: true });
      }
    });
  }

  status(group: string): ApplianceGroupStatus | undefined {
    const side = this.#sides.get(group);
    if (side instanceof RecoverySide) return side.status(this.#exports.list().filter((n) => n.startsWith(`${group}/`) || n.startsWith(`test/${group}/`)));
    if (side) return side.status();
    if (!this.#specs.has(group)) return undefined;
    return { link: "none", linkReason: "the group has no disks", sync: { kind: "none" }, rpoMs: null, throughputBytesPerSec: 0, queueBytes: 0, replicatedBytes: 0, replicatedWrites: 0, compressionRatio: 1, exports: [] };
  }

  async addCheckpoint(group: string, tag: string | null): Promise<Checkpoint> {
    const side = this.#sides.get(group);
    if (!(side instanceof ProtectedSide)) throw new ConflictError("not_replicating", `group "${group}" does not replicate from this site`, "add VMs with disks first, and run this at the protected site");
    return side.checkpoint(tag);
  }

  async listCheckpoints(group: string, filter: CheckpointFilter): Promise<Checkpoint[]> {
    const side = this.#sides.get(group);
    return side instanceof RecoverySide ? side.listCheckpoints(filter) : [];
  }

  quiesce(group: string, tag: string): Promise<Checkpoint> {
    const side = this.#sides.get(group);
    if (!(side instanceof ProtectedSide)) throw new ConflictError("not_replicating", `group "${group}" does not replicate from this site`);
    return side.quiesce(tag);
  }

  async holdWrites(group: string): Promise<void> {
    const side = this.#sides.get(group);
    if (side instanceof ProtectedSide) await side.holdWrites();
  }

  unquiesce(group: string): void {
    const side = this.#sides.get(group);
    if (side instanceof ProtectedSide) side.unquiesce();
  }

  recovery(group: string): RecoveryAccess | undefined {
    const side = this.#sides.get(group);
    const journal = side instanceof RecoverySide ? side.journal : undefined;
    if (!side || !(side instanceof RecoverySide) || !journal) return undefined;
    return {
      journal,
      exports: {
        add: (exp) => void this.#exports.add(exp),
        remove: (name) => void this.#exports.remove(name),
        uri: (name) => nbdUri(this.#nbdAddress, name),
      },
      stopReplication: (reason) => side.stopReplication(reason),
      resumeReplication: () => side.resumeReplication(),
    };
  }

  device(name: string): BlockDevice | undefined {
    return name ? this.#exports.open(name)?.device : undefined;
  }

  onEvent(listener: (e: ApplianceEvent) => void): void {
    this.#listeners.push(listener);
  }

  /** Stops taking NBD clients (those connected finish their requests), stops each group, then the receiver. */
  async close(): Promise<void> {
    await this.#nbd.close();
    await this.#serial(async () => {
      for (const side of this.#sides.values()) await side.close();
      this.#sides.clear();
    });
    await this.#receiver.close();
  }

  #emit(e: ApplianceEvent): void {
    for (const l of this.#listeners) l(e);
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => undefined);
    return run;
  }
}
