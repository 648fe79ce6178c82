/**
 * What the site API answers, as the console reads it. These mirror the
 * server's types (src/site/status.ts GroupStatusView, src/manager events,
 * tokens and peers, src/orchestration tasks and reports); the console is
 * built apart from the server, so it restates them instead of importing.
 */
export type Role = "viewer" | "operator" | "admin";
export const ROLES: readonly Role[] = ["viewer", "operator", "admin"];

export type GroupStateName =
  | "empty"
  | "paused"
  | "not-replicating"
  | "initial-sync"
  | "bitmap-sync"
  | "link-down"
  | "rpo-breach"
  | "protected"
  | "test-running"
  | "failed-over";

export interface DiskView {
  name: string;
  sizeBytes: number;
  path: string;
  export: string | null;
  uri: string | null;
}

export interface VmView {
  name: string;
  bootOrder: number;
  bootDelayMs: number;
  disks: DiskView[];
}

export interface GroupStatus {
  name: string;
  role: "protected" | "recovery";
  protectedSite: string;
  recoverySite: string;
  state: GroupStateName;
  reason: string;
  percent: number | null;
  rpoMs: number | null;
  rpoTargetMs: number;
  historyTargetMs: number;
  historyCoveredMs: number | null;
  link: "up" | "down" | "none";
  throughputBytesPerSec: number;
  queueBytes: number;
  replicatedBytes: number;
  replicatedWrites: number;
  compressionRatio: number;
  journalBytes: number | null;
  journalLimitBytes: number;
  alerts: number;
  vms: VmView[];
  /** Settings the status may carry (newer servers); the settings page falls back to what it knows. */
  checkpointIntervalMs?: number;
  bandwidthBytesPerSec?: number | null;
  priority?: "high" | "medium" | "low";
  compression?: boolean;
  /** How recovered VMs start, and the scripts around recovery operations. */
  compute?: ComputeSettings;
}

export interface Peer {
  name: string;
  peerUrl: string;
  apiUrl: string;
  replicationHost: string;
  replicationPort: number;
  fingerprint: string;
  pairedAt: number;
  /** The limit of the link to this site, shared by its groups; null: unlimited (absent from older sites). */
  bandwidthBytesPerSec?: number | null;
}

export interface SiteInfo {
  name: string;
  fingerprint: string;
  apiUrl: string;
  peerUrl: string;
  nbd: { host: string; port: number };
  peers: Peer[];
}

export interface Checkpoint {
  id: string;
  seq: number;
  time: number;
  tag: string | null;
  consistent: boolean;
}

export type Severity = "info" | "warning" | "critical";

export interface LifelineEvent {
  id: number;
  time: number;
  severity: Severity;
  kind: string;
  group: string | null;
  message: string;
  data: Record<string, unknown>;
}

export interface Alert {
  id: number;
  kind: string;
  subject: string;
  severity: "warning" | "critical";
  message: string;
  raisedAt: number;
  clearedAt: number | null;
}

export interface TokenInfo {
  id: string;
  name: string;
  role: Role;
  createdAt: number;
  createdBy: string;
  lastUsedAt: number | null;
  revokedAt: number | null;
}

export type StepState = "pending" | "running" | "done" | "failed" | "undone";
export type TaskState = "running" | "succeeded" | "failed" | "rolled-back";

export interface StepRecord {
  name: string;
  state: StepState;
  progress?: number | null;
  detail?: string | null;
  error?: string | null;
}

export interface TaskRecord {
  id: string;
  kind: string;
  group: string;
  by: string;
  state: TaskState;
  startedAtMs: number;
  endedAtMs?: number | null;
  steps: StepRecord[];
  error?: string | null;
  log?: string[];
}

export interface Report {
  id?: string;
  kind?: string;
  group: string;
  by: string;
  point: { seq: number; timeMs?: number | null; label: string; checkpointId?: string | null };
  startedAtMs: number;
  /** The site's reports say endedAtMs; the orchestration's TestReport said stoppedAtMs. */
  stoppedAtMs?: number;
  endedAtMs?: number;
  durationMs: number;
  /** pass, fail or unknown for a test; committed or rolled back for a failover. */
  result: string;
  notes: string;
  vms: string[];
}

export interface ErrorBody {
  error: { code: string; message: string; hint?: string; field?: string };
}

export interface ComputeSettings {
  driver: "none" | "qemu" | "script";
  memoryMiB?: number;
  cpus?: number;
  start?: string;
  stop?: string;
  timeoutMs?: number;
  testNetwork?: "none" | "isolated";
  liveBridge?: string;
  beforeScript?: string;
  afterScript?: string;
  scriptTimeoutMs?: number;
}

/** A group's metrics, column by column, oldest first (`GET /groups/:name/history`, and each `tick` of the live stream). */
export interface MetricsSeries {
  t: number[];
  rpoMs: (number | null)[];
  throughputBytesPerSec: number[];
  queueBytes: number[];
}

export interface HistoryAnswer extends MetricsSeries {
  group: string;
  intervalMs: number;
  keepMs: number;
}

/** The live stream's messages (`GET /live`, server-sent events; src/api/live-hub.ts). */
export type LiveMessage =
  | { event: "hello"; data: { site: string; tickMs: number; timeMs: number } }
  | { event: "site"; data: SiteInfo }
  | { event: "groups"; data: { names: string[]; changed: GroupStatus[] } }
  | { event: "alerts"; data: Alert[] }
  | { event: "tasks"; data: TaskRecord[] }
  | { event: "event"; data: LifelineEvent }
  | { event: "tick"; data: { timeMs: number; samples: Record<string, MetricsSeries> } };
