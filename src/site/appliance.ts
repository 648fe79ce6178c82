/**
 * The boundary between the manager and the appliance (the data path). The
 * manager decides what is protected and where; the appliance serves the disks
 * over NBD, splits their writes to the recovery site, receives and journals
 * them there, and reports facts back. Keeping this interface small lets the
 * control plane be built and tested before the data path is complete, and lets
 * tests swap in a fake appliance.
 */
import type { BlockDevice } from "../blockdev/index.js";
import type { Journal } from "../journal/index.js";
import type { ExportRegistry } from "../orchestration/index.js";

export interface ApplianceDisk {
  vm: string;
  disk: string;
  sizeBytes: number;
  /** The production store (protected site) or the replica (recovery site). */
  path: string;
  /** The file held data before protection started: it needs an initial sync. */
  existing: boolean;
}

export interface ApplianceEndpoint {
  site: string;
  host: string;
  port: number;
  /** The pinned SHA-256 fingerprint of the peer's certificate. */
  fingerprint: string;
}

export interface GroupSpec {
  name: string;
  /** This site's role for the group. */
  role: "protected" | "recovery";
  /** The other site of the group. */
  peer: ApplianceEndpoint;
  disks: ApplianceDisk[];
  historyMs: number;
  journalLimitBytes: number;
  checkpointIntervalMs: number;
  /** The group's own limit, within its site pair's. */
  bandwidthBytesPerSec: number | null;
  /** Its weight in the site pair's bandwidth when groups share it. */
  priority: "high" | "medium" | "low";
  compression: boolean;
  paused: boolean;
}

export interface ApplianceGroupStatus {
  /** "none": no replication runs for this group here. */
  link: "up" | "down" | "none";
  linkReason?: string;
  sync: { kind: "none" } | { kind: "initial" | "bitmap"; percent: number; reason: string };
  /** Now minus the newest point the recovery site holds durably with everything before it; null when unknown. */
  rpoMs: number | null;
  throughputBytesPerSec: number;
  queueBytes: number;
  replicatedBytes: number;
  replicatedWrites: number;
  /** Bytes before compression / bytes sent; 1 without compression. */
  compressionRatio: number;
  /** At the recovery site. */
  journal?: { bytes: number; historyMs: number; limitBytes: number };
  /** NBD export names of the group's disks, served here. */
  exports: string[];
}

export interface Checkpoint {
  id: string;
  seq: number;
  time: number;
  tag: string | null;
  consistent: boolean;
}

export interface CheckpointFilter {
  sinceMs?: number;
  tag?: string;
}

export type ApplianceEvent =
  | { kind: "bitmap-sync-started"; group: string; reason: string; bytes: number }
  | { kind: "bitmap-sync-ended"; group: string; reason: string }
  | { kind: "stream-overflow"; group: string; message: string }
  | { kind: "delta-sync"; group: string; comparedBytes: number; differingBytes: number }
  | { kind: "journal-warning"; group: string; bytes: number; limitBytes: number }
  | { kind: "journal-limit"; group: string; historyBeforeMs: number; historyAfterMs: number }
  /** The recovery site's journal failed and replication of the group paused; `full` when for lack of space. */
  | { kind: "storage-full"; group: string; message: string; full: boolean }
  | { kind: "storage-resumed"; group: string; pausedMs: number }
  | { kind: "journal-under-limit"; group: string; bytes: number; limitBytes: number }
  /** The journal at its limit took back a test's pin: the test must stop (a test never holds replication back). */
  | { kind: "pin-revoked"; group: string; pinKind: string; reason: string }
  /** The journal at its limit cannot shrink past a failover's pin: it grows until the failover is committed or rolled back. */
  | { kind: "pin-blocks-limit"; group: string; pinKind: string; seq: number }
  | { kind: "disk-error"; group: string; disk: string; message: string };

/** What recovery operations need of a group at its recovery site. */
export interface RecoveryAccess {
  journal: Journal;
  /** The site's NBD exports, where recovered disks are served. */
  exports: ExportRegistry;
  /** Hangs up the group's sender and refuses it (a live failover); appends in flight settle first. */
  stopReplication(reason: string): Promise<void>;
  resumeReplication(): void;
}

export interface Appliance {
  /** Starts protecting (or receiving) a group, or applies a changed spec to one already running. Idempotent. */
  protect(spec: GroupSpec): Promise<void>;
  /** Stops a group here; with `deleteData`, removes its files that this site made. */
  unprotect(group: string, options: { deleteData: boolean }): Promise<void>;
  /** Facts about a running group, or undefined when it does not run here. */
  status(group: string): ApplianceGroupStatus | undefined;
  /** Adds a checkpoint; resolves once it is durable at the recovery site. */
  addCheckpoint(group: string, tag: string | null): Promise<Checkpoint>;
  listCheckpoints(group: string, filter: CheckpointFilter): Promise<Checkpoint[]>;
  /** The device served as NBD export `name` (`<group>/<vm>/<disk>`), for in-process writers such as the demo's workload. */
  device(name: string): BlockDevice | undefined;
  /** At the protected site, for a move: new writes wait, and once the recovery site holds every write a final checkpoint is made durable there. */
  quiesce?(group: string, tag: string): Promise<Checkpoint>;
  /** Lets waiting writes go on after a move that did not happen. */
  unquiesce?(group: string): void;
  /** After a restart in the middle of a move: new writes wait again, as the persisted quiesce says, without a checkpoint. */
  holdWrites?(group: string): Promise<void>;
  /** At the recovery site, for a group received here; undefined elsewhere (and in appliances without journals). */
  recovery?(group: string): RecoveryAccess | undefined;
  /** The bandwidth limit of the link to `peer`, shared by every group replicating to it (null: unlimited). */
  setPairBandwidth(peer: string, bytesPerSec: number | null): void;
  /** Data-path events the manager turns into events and alerts. */
  onEvent(listener: (e: ApplianceEvent) => void): void;
  /** Where NBD clients connect. */
  readonly nbdAddress: { host: string; port: number };
  /** Where the replication receiver listens, when there is one. */
  readonly replicationPort?: number;
  close(): Promise<void>;
}

/** The URI a client attaches export `name` of the NBD server at `address` with (IPv6 hosts in brackets). */
export function nbdUri(address: { host: string; port: number }, name: string): string {
  const host = address.host.includes(":") ? `[${address.host}]` : address.host;
  return `nbd://${host}:${address.port}/${name}`;
}
