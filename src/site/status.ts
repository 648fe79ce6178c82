/**
 * A group's status as people and scripts see it: the state from the state
 * machine (manager/group-state.ts) over the appliance's facts, RPO against its
 * target, history covered, throughput, exports. `refreshStates` runs once a
 * second in the daemon and turns state changes into events and alerts.
 */
import { ConflictError, deriveGroupState, stateEffects, type Group, type GroupState, type GroupStateName, type VmCompute } from "../manager/index.js";
import { nbdUri, type ApplianceEvent, type ApplianceGroupStatus, type Checkpoint, type CheckpointFilter } from "./appliance.js";
import type { SiteContext } from "./context.js";
import { callPeer } from "./peer-client.js";

export interface GroupStatusView {
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
  compute: Group["compute"];
  vms: { name: string; bootOrder: number; bootDelayMs: number; compute: VmCompute; disks: { name: string; sizeBytes: number; path: string; export: string | null; uri: string | null }[] }[];
}

const IDLE: ApplianceGroupStatus = {
  link: "none",
  linkReason: "the group does not run in the appliance",
  sync: { kind: "none" },
  rpoMs: null,
  throughputBytesPerSec: 0,
  queueBytes: 0,
  replicatedBytes: 0,
  replicatedWrites: 0,
  compressionRatio: 1,
  exports: [],
};

/** `remote`: the state the group's recovery site last reported (what runs there: a test, a failover). */
export function currentState(g: Group, a: ApplianceGroupStatus, remote?: GroupStateName, linkExpected = false): GroupState {
  return deriveGroupState({
    hasDisks: g.vms.some((v) => v.disks.length > 0),
    paused: g.paused,
    rpoTargetMs: g.rpoTargetMs,
    link: a.link,
    linkReason: a.linkReason,
    sync: a.sync,
    rpoMs: a.rpoMs,
    testRunning: a.exports.some((e) => e.startsWith(`test/${g.name}/`)) || remote === "test-running",
    failedOver: g.failover !== "none" || remote === "failed-over",
    linkExpected,
  });
}

export function groupStatus(ctx: SiteContext, g: Group): GroupStatusView {
  const a = ctx.appliance.status(g.name) ?? IDLE;
  const s = currentState(g, a, remoteState(ctx, g), linkExpected(ctx, g.name, a));
  const nbd = ctx.appliance.nbdAddress;
  const alerts = ctx.manager.events.alerts().filter((x) => x.subject === g.name).length;
  const remote = g.protectedSite === ctx.name ? ctx.remoteJournals.get(g.name) : undefined;
  return {
    name: g.name,
    role: g.protectedSite === ctx.name ? "protected" : "recovery",
    protectedSite: g.protectedSite,
    recoverySite: g.recoverySite,
    state: s.state,
    reason: s.reason,
    percent: "percent" in s ? s.percent : null,
    rpoMs: a.rpoMs,
    rpoTargetMs: g.rpoTargetMs,
    historyTargetMs: g.historyMs,
    historyCoveredMs: a.journal?.historyMs ?? remote?.historyCoveredMs ?? null,
    link: a.link,
    throughputBytesPerSec: a.throughputBytesPerSec,
    queueBytes: a.queueBytes,
    replicatedBytes: a.replicatedBytes,
    replicatedWrites: a.replicatedWrites,
    compressionRatio: a.compressionRatio,
    journalBytes: a.journal?.bytes ?? remote?.journalBytes ?? null,
    journalLimitBytes: g.journalLimitBytes,
    alerts,
    compute: g.compute,
    vms: g.vms.map((v) => ({
      name: v.name,
      bootOrder: v.bootOrder,
      bootDelayMs: v.bootDelayMs,
      compute: v.compute ?? {},
      disks: v.disks.map((d) => {
        const name = `${g.name}/${v.name}/${d.name}`;
        const served = a.exports.includes(name);
        return { name: d.name, sizeBytes: d.sizeBytes, path: d.path, export: served ? name : null, uri: served ? nbdUri(nbd, name) : null };
      }),
    })),
  };
}

function remoteState(ctx: SiteContext, g: Group): GroupStateName | undefined {
  return g.protectedSite === ctx.name ? ctx.remoteJournals.get(g.name)?.state : undefined;
}

/** Asks the recovery site of each group protected here about its journal (history covered, size), for status and metrics. */
export async function fetchRemoteJournals(ctx: SiteContext): Promise<void> {
  for (const g of ctx.manager.groups.list()) {
    if (g.protectedSite !== ctx.name) continue;
    const peer = ctx.manager.peers.find(g.recoverySite);
    if (!peer) continue;
    try {
      const s = await callPeer<GroupStatusView>(ctx.identity, { url: peer.peerUrl, fingerprint: peer.fingerprint, method: "GET", path: `/peer/v1/groups/${encodeURIComponent(g.name)}/status`, timeoutMs: 3000 });
      ctx.remoteJournals.set(g.name, { historyCoveredMs: s.historyCoveredMs, journalBytes: s.journalBytes, state: s.state, atMs: Date.now() });
    } catch (err) {
      ctx.remoteJournals.delete(g.name);
      ctx.log.debug({ group: g.name, err }, "the recovery site did not say how its journal is");
    }
  }
}

/** Persists each group's state and applies the events and alerts its changes cause. */
/** A link expected to come up after a change of direction, until it does or the grace ends (then a down link is real). */
function linkExpected(ctx: SiteContext, group: string, a: ApplianceGroupStatus): boolean {
  const until = ctx.linkExpectedUntil.get(group);
  if (until === undefined) return false;
  if (a.link === "up" || Date.now() > until) {
    ctx.linkExpectedUntil.delete(group);
    return false;
  }
  return true;
}

export function refreshStates(ctx: SiteContext): void {
  for (const g of ctx.manager.groups.list()) {
    const a = ctx.appliance.status(g.name) ?? IDLE;
    const next = currentState(g, a, remoteState(ctx, g), linkExpected(ctx, g.name, a));
    if (next.state === g.state && next.reason === g.stateReason) continue;
    for (const e of stateEffects(g.name, g.state, next)) {
      if (e.do === "event") ctx.manager.events.add({ severity: e.severity, kind: e.kind, group: g.name, message: e.message, data: { state: next.state } });
      else if (e.do === "raise") ctx.manager.events.raise(e.alert, g.name, e.severity, e.message, g.name);
      else ctx.manager.events.clear(e.alert, g.name, e.message, g.name);
    }
    ctx.manager.groups.setState(g.name, next.state, next.reason);
  }
}

function formatBytesShort(n: number): string {
  return n >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(1)} MiB` : `${n} bytes`;
}

/** Data-path events into the event log and alerts. */
export function recordApplianceEvent(ctx: SiteContext, e: ApplianceEvent): void {
  const ev = ctx.manager.events;
  switch (e.kind) {
    case "bitmap-sync-started":
      ev.add({ severity: "warning", kind: e.kind, group: e.group, message: `group ${e.group}: bitmap sync of ${formatBytesShort(e.bytes)} started: ${e.reason}`, data: { reason: e.reason, bytes: e.bytes } });
      break;
    case "bitmap-sync-ended":
      ev.add({ severity: "info", kind: e.kind, group: e.group, message: `group ${e.group}: bitmap sync ended (${e.reason})` });
      break;
    case "delta-sync":
      ev.add({ severity: "info", kind: e.kind, group: e.group, message: `group ${e.group}: delta sync compared ${formatBytesShort(e.comparedBytes)}; ${formatBytesShort(e.differingBytes)} differ and are sent`, data: { comparedBytes: e.comparedBytes, differingBytes: e.differingBytes } });
      break;
    case "stream-overflow":
      ev.add({ severity: "warning", kind: e.kind, group: e.group, message: `group ${e.group}: ${e.message}` });
      break;
    case "journal-warning":
      ev.raise("journal-warning", e.group, "warning", `group ${e.group}: journal at ${e.bytes} of ${e.limitBytes} bytes`, e.group);
      break;
    case "journal-limit":
      ev.raise("journal-limit", e.group, "critical", `group ${e.group}: journal at its limit; history shrunk from ${Math.round(e.historyBeforeMs / 1000)}s to ${Math.round(e.historyAfterMs / 1000)}s`, e.group);
      break;
    case "pin-revoked":
      ev.raise("test-stopped-by-limit", e.group, "warning", `group ${e.group}: the journal reached its limit; the failover test is stopped (${e.reason})`, e.group);
      break;
    case "pin-blocks-limit":
      ev.raise("journal-over-limit", e.group, "critical", `group ${e.group}: the journal is at its limit and a ${e.pinKind} at seq ${e.seq} keeps it from shrinking; commit or roll back the failover`, e.group);
      break;
    case "storage-full":
      ev.raise(e.full ? "storage-full" : "journal-paused", e.group, "critical", `group ${e.group}: ${e.full ? "recovery-site storage full" : "the recovery site's journal failed"}; replication paused, nothing lost: ${e.message}`, e.group);
      break;
    case "storage-resumed":
      for (const alert of ["storage-full", "journal-paused"]) ev.clear(alert, e.group, `group ${e.group}: the journal takes writes again after ${Math.round(e.pausedMs / 1000)}s; replication resumes`, e.group);
      break;
    case "journal-under-limit":
      for (const alert of ["journal-warning", "journal-limit", "journal-over-limit"]) ev.clear(alert, e.group, `group ${e.group}: journal back under its limit (${formatBytesShort(e.bytes)} of ${formatBytesShort(e.limitBytes)})`, e.group);
      break;
    case "disk-error":
      ev.raise("disk-error", `${e.group}/${e.disk}`, "critical", `group ${e.group}, disk ${e.disk}: ${e.message}`, e.group);
      break;
  }
}

export async function addCheckpoint(ctx: SiteContext, group: string, tag: string | null, actor: string): Promise<Checkpoint> {
  const g = ctx.manager.groups.get(group);
  if (g.protectedSite !== ctx.name) {
    throw new ConflictError("not_protected_site", `checkpoints of group "${group}" are added at its protected site ${g.protectedSite}`, `run the command against site ${g.protectedSite}`);
  }
  const cp = await ctx.appliance.addCheckpoint(group, tag);
  ctx.manager.audit.record(actor, "checkpoint.add", group, { id: cp.id, seq: cp.seq, tag });
  ctx.manager.events.add({ severity: "info", kind: "checkpoint", group, message: `checkpoint ${cp.id}${tag ? ` "${tag}"` : ""} at seq ${cp.seq} is durable at ${g.recoverySite}` });
  return cp;
}

/** A checkpoint as listed: its own tag (from the stream) and every tag added later ("tested at …"). */
export interface ListedCheckpoint extends Checkpoint {
  tags: string[];
}

/**
 * Checkpoints live in the recovery site's journal: at the protected site, they
 * are asked of it. The recovery site adds the tags its database keeps for
 * them (manager/checkpoint-tags.ts), and a tag filter matches either kind.
 */
export async function listCheckpoints(ctx: SiteContext, group: string, filter: CheckpointFilter): Promise<ListedCheckpoint[]> {
  const g = ctx.manager.groups.get(group);
  if (g.recoverySite === ctx.name) {
    const added = ctx.manager.checkpointTags.list(group);
    const byId = new Map<string, string[]>();
    for (const t of added) if (t.checkpointId !== undefined) byId.set(t.checkpointId, [...(byId.get(t.checkpointId) ?? []), t.tag]);
    const wanted = filter.tag;
    const addedMatch = wanted !== undefined && added.some((t) => t.tag === wanted);
    // A tag added here is not in the journal: list without the journal's tag filter, then filter on both kinds.
    const listed = await ctx.appliance.listCheckpoints(group, addedMatch ? (filter.sinceMs !== undefined ? { sinceMs: filter.sinceMs } : {}) : filter);
    const all = listed.map((c) => ({ ...c, tags: [...(c.tag !== null ? [c.tag] : []), ...(byId.get(c.id) ?? [])] }));
    return wanted === undefined ? all : all.filter((c) => c.tags.includes(wanted));
  }
  const peer = ctx.manager.peers.get(g.recoverySite);
  const q = new URLSearchParams();
  if (filter.sinceMs !== undefined) q.set("since", String(filter.sinceMs));
  if (filter.tag !== undefined) q.set("tag", filter.tag);
  return callPeer<ListedCheckpoint[]>(ctx.identity, { url: peer.peerUrl, fingerprint: peer.fingerprint, method: "GET", path: `/peer/v1/groups/${encodeURIComponent(group)}/checkpoints${q.size ? `?${q}` : ""}` });
}
