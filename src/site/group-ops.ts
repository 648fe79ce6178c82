/**
 * Changing protection groups. A group is changed at its protected site (where
 * its VMs write); each change is sent to the recovery site first, so the two
 * never disagree about what is protected: if the recovery site cannot take it,
 * nothing changes here either. Then the appliance is told, and the audit log
 * records who did it.
 */
import fs from "node:fs/promises";
import path from "node:path";
import { ConflictError, DEFAULT_SETTINGS, UnprocessableError, type Disk, type Group, type GroupSettings, type Peer, type Vm, type VmCompute } from "../manager/index.js";
import type { GroupSpec } from "./appliance.js";
import type { SiteContext } from "./context.js";
import { callPeer } from "./peer-client.js";

export interface VmInput {
  name: string;
  bootOrder?: number;
  bootDelayMs?: number;
  compute?: VmCompute;
  disks: { name: string; sizeBytes: number; path?: string }[];
}

/** A change of a VM's own compute settings: a value sets it, null drops it (back to the group's). */
export type VmComputeChange = { [K in keyof VmCompute]?: VmCompute[K] | null };

/** A group as one site sends it to the other. */
export interface GroupDefinition {
  name: string;
  protectedSite: string;
  recoverySite: string;
  settings: GroupSettings;
  vms: { name: string; bootOrder: number; bootDelayMs: number; compute?: VmCompute; disks: { name: string; sizeBytes: number }[] }[];
}

export async function createGroup(ctx: SiteContext, name: string, recoverySite: string, settings: Partial<GroupSettings>, actor: string): Promise<Group> {
  if (ctx.manager.groups.has(name)) throw new ConflictError("group_exists", `group "${name}" already exists`, `change it with: lifeline group update ${name}`);
  if (recoverySite === ctx.name) throw new UnprocessableError("recovery_site_is_self", `the recovery site must be another site than this one (${ctx.name})`, "name a paired site: lifeline status shows them");
  const peer = pairedPeer(ctx, recoverySite);
  const full = { ...DEFAULT_SETTINGS, ...settings };
  await sendDefinition(ctx, peer, { name, protectedSite: ctx.name, recoverySite, settings: full, vms: [] });
  const g = ctx.manager.groups.create(name, ctx.name, recoverySite, full, { state: "empty", reason: "no VMs with disks yet (lifeline vm add)" });
  ctx.manager.audit.record(actor, "group.create", name, { recoverySite, settings: full });
  ctx.manager.events.add({ severity: "info", kind: "group-created", group: name, message: `group ${name} created, recovery site ${recoverySite}` });
  return g;
}

export async function updateGroup(ctx: SiteContext, name: string, settings: Partial<GroupSettings>, actor: string): Promise<Group> {
  const g = ownGroup(ctx, name, "changed");
  const next = { ...g, ...settings };
  await sendDefinition(ctx, pairedPeer(ctx, g.recoverySite), definitionOf(next));
  const updated = ctx.manager.groups.update(name, settings);
  await ctx.appliance.protect(applianceSpec(ctx, updated));
  ctx.manager.audit.record(actor, "group.update", name, { ...settings });
  return updated;
}

export async function deleteGroup(ctx: SiteContext, name: string, keepDisks: boolean, actor: string): Promise<void> {
  const g = ownGroup(ctx, name, "deleted");
  if (g.state === "test-running" || g.state === "failed-over") {
    throw new ConflictError("group_busy", `group "${name}" is ${g.state}; it cannot be deleted now`, "end the test or the failover first");
  }
  await callPeer(ctx.identity, { ...peerTarget(pairedPeer(ctx, g.recoverySite)), method: "DELETE", path: `/peer/v1/groups/${encodeURIComponent(name)}` });
  await ctx.appliance.unprotect(name, { deleteData: !keepDisks });
  ctx.manager.groups.delete(name);
  ctx.manager.audit.record(actor, "group.delete", name, { keepDisks });
  ctx.manager.events.add({ severity: "info", kind: "group-deleted", group: name, message: `group ${name} deleted${keepDisks ? " (disks kept)" : ""}` });
}

export async function addVm(ctx: SiteContext, group: string, input: VmInput, actor: string): Promise<Group> {
  const g = ownGroup(ctx, group, "changed");
  if (g.vms.some((v) => v.name === input.name)) throw new ConflictError("vm_exists", `VM "${input.name}" is already in group "${group}"`, `remove it first with: lifeline vm remove ${group} ${input.name}`);
  const disks: Disk[] = [];
  for (const d of input.disks) disks.push(await productionDisk(ctx, group, input.name, d));
  const vm: Vm = { name: input.name, bootOrder: input.bootOrder ?? g.vms.length + 1, bootDelayMs: input.bootDelayMs ?? 0, compute: input.compute ?? {}, disks };
  await sendDefinition(ctx, pairedPeer(ctx, g.recoverySite), definitionOf({ ...g, vms: [...g.vms, vm] }));
  const updated = ctx.manager.groups.addVm(group, vm, disks);
  await ctx.appliance.protect(applianceSpec(ctx, updated));
  ctx.manager.audit.record(actor, "vm.add", `${group}/${vm.name}`, { disks: disks.map((d) => ({ name: d.name, sizeBytes: d.sizeBytes, path: d.path, existing: d.existing })) });
  ctx.manager.events.add({ severity: "info", kind: "vm-added", group, message: `VM ${vm.name} added to ${group} with ${disks.length} disk(s)` });
  return updated;
}

/** A VM's own compute settings change: sent to the recovery site first (it starts the VMs), then kept here. */
export async function updateVm(ctx: SiteContext, group: string, vm: string, change: VmComputeChange, actor: string): Promise<Group> {
  const g = ownGroup(ctx, group, "changed");
  const found = g.vms.find((v) => v.name === vm);
  if (!found) ctx.manager.groups.removeVm(group, vm); // throws the 404
  const compute: Record<string, unknown> = { ...found?.compute };
  for (const [key, value] of Object.entries(change)) {
    if (value === null) delete compute[key];
    else if (value !== undefined) compute[key] = value;
  }
  const next = compute as VmCompute;
  await sendDefinition(ctx, pairedPeer(ctx, g.recoverySite), definitionOf({ ...g, vms: g.vms.map((v) => (v.name === vm ? { ...v, compute: next } : v)) }));
  const updated = ctx.manager.groups.setVmCompute(group, vm, next);
  ctx.manager.audit.record(actor, "vm.update", `${group}/${vm}`, { ...change });
  return updated;
}

export async function removeVm(ctx: SiteContext, group: string, vm: string, actor: string): Promise<Group> {
  const g = ownGroup(ctx, group, "changed");
  if (!g.vms.some((v) => v.name === vm)) ctx.manager.groups.removeVm(group, vm); // throws the 404
  await sendDefinition(ctx, pairedPeer(ctx, g.recoverySite), definitionOf({ ...g, vms: g.vms.filter((v) => v.name !== vm) }));
  ctx.manager.groups.removeVm(group, vm);
  const updated = ctx.manager.groups.get(group);
  await ctx.appliance.protect(applianceSpec(ctx, updated));
  ctx.manager.audit.record(actor, "vm.remove", `${group}/${vm}`);
  ctx.manager.events.add({ severity: "info", kind: "vm-removed", group, message: `VM ${vm} removed from ${group}` });
  return updated;
}

/** At the recovery site: the protected site sent a group's definition. */
export async function receiveGroup(ctx: SiteContext, def: GroupDefinition, from: string): Promise<void> {
  if (def.protectedSite !== from || def.recoverySite !== ctx.name) {
    throw new UnprocessableError("group_not_ours", `site ${from} sent group ${def.name} for ${def.protectedSite} → ${def.recoverySite}, which does not involve this site as recovery site`);
  }
  const existing = ctx.manager.groups.has(def.name) ? ctx.manager.groups.get(def.name) : undefined;
  if (existing && existing.protectedSite !== from) throw new ConflictError("group_exists", `group "${def.name}" already exists here, protected by ${existing.protectedSite}`);
  const vms: Vm[] = def.vms.map((v) => ({
    ...v,
    disks: v.disks.map((d) => ({ ...d, path: path.join(ctx.layout.data, def.name, "replica", v.name, `${d.name}.raw`), existing: false })),
  }));
  const g = ctx.manager.groups.replace(def.name, def.protectedSite, def.recoverySite, def.settings, vms);
  await ctx.appliance.protect(applianceSpec(ctx, g));
  ctx.manager.audit.record(`site:${from}`, existing ? "group.update" : "group.create", def.name, { from });
}

/** At the recovery site: the protected site deleted a group. Replicas are kept, for safety. */
export async function dropGroup(ctx: SiteContext, name: string, from: string): Promise<void> {
  if (!ctx.manager.groups.has(name)) return;
  const g = ctx.manager.groups.get(name);
  if (g.protectedSite !== from) throw new ConflictError("group_not_yours", `group "${name}" is protected by ${g.protectedSite}, not ${from}`);
  await ctx.appliance.unprotect(name, { deleteData: false });
  ctx.manager.groups.delete(name);
  ctx.manager.checkpointTags.drop(name);
  ctx.manager.audit.record(`site:${from}`, "group.delete", name, { from });
}

export function applianceSpec(ctx: SiteContext, g: Group): GroupSpec {
  const role = g.protectedSite === ctx.name ? "protected" : "recovery";
  const peer = ctx.manager.peers.get(role === "protected" ? g.recoverySite : g.protectedSite);
  return {
    name: g.name,
    role,
    peer: { site: peer.name, host: peer.replicationHost, port: peer.replicationPort, fingerprint: peer.fingerprint },
    disks: g.vms.flatMap((v) => v.disks.map((d) => ({ vm: v.name, disk: d.name, sizeBytes: d.sizeBytes, path: d.path, existing: d.existing }))),
    historyMs: g.historyMs,
    journalLimitBytes: g.journalLimitBytes,
    checkpointIntervalMs: g.checkpointIntervalMs,
    bandwidthBytesPerSec: g.bandwidthBytesPerSec,
    priority: g.priority,
    compression: g.compression,
    paused: g.paused,
  };
}

export function definitionOf(g: Group): GroupDefinition {
  const { rpoTargetMs, historyMs, journalLimitBytes, checkpointIntervalMs, bandwidthBytesPerSec, priority, compression, compute } = g;
  return {
    name: g.name,
    protectedSite: g.protectedSite,
    recoverySite: g.recoverySite,
    settings: { rpoTargetMs, historyMs, journalLimitBytes, checkpointIntervalMs, bandwidthBytesPerSec, priority, compression, compute },
    vms: g.vms.map((v) => ({ name: v.name, bootOrder: v.bootOrder, bootDelayMs: v.bootDelayMs, compute: v.compute ?? {}, disks: v.disks.map((d) => ({ name: d.name, sizeBytes: d.sizeBytes })) })),
  };
}

function ownGroup(ctx: SiteContext, name: string, verb: string): Group {
  const g = ctx.manager.groups.get(name);
  if (g.protectedSite !== ctx.name) {
    throw new ConflictError("not_protected_site", `group "${name}" is protected by site ${g.protectedSite}; it is ${verb} there`, `run the command against site ${g.protectedSite}`);
  }
  return g;
}

function pairedPeer(ctx: SiteContext, site: string): Peer {
  const peer = ctx.manager.peers.find(site);
  if (!peer) throw new UnprocessableError("site_not_paired", `site "${site}" is not paired with ${ctx.name}`, `on ${site}: lifeline site pair-token; here: lifeline pair --peer URL --token TOKEN`);
  return peer;
}

function peerTarget(peer: Peer): { url: string; fingerprint: string } {
  return { url: peer.peerUrl, fingerprint: peer.fingerprint };
}

async function sendDefinition(ctx: SiteContext, peer: Peer, def: GroupDefinition): Promise<void> {
  await callPeer(ctx.identity, { ...peerTarget(peer), method: "PUT", path: `/peer/v1/groups/${encodeURIComponent(def.name)}`, body: def });
}

/** Where a new disk's production store lives, and whether it already holds data (then it needs an initial sync). */
async function productionDisk(ctx: SiteContext, group: string, vm: string, d: VmInput["disks"][number]): Promise<Disk> {
  const file = d.path ?? path.join(ctx.layout.data, group, vm, `${d.name}.raw`);
  const stat = await fs.stat(file).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return undefined;
    throw new UnprocessableError("disk_unreadable", `disk ${d.name}: cannot read ${file}: ${err.message}`);
  });
  if (!stat) return { name: d.name, sizeBytes: d.sizeBytes, path: file, existing: false };
  if (!stat.isFile() && !stat.isBlockDevice()) throw new UnprocessableError("disk_not_a_file", `disk ${d.name}: ${file} is not a file or block device`);
  if (stat.isFile() && stat.size !== d.sizeBytes) {
    throw new UnprocessableError("disk_size_mismatch", `disk ${d.name}: ${file} holds ${stat.size} bytes, not ${d.sizeBytes}`, `give its real size: --disk ${d.name}:${stat.size}:${file}`);
  }
  return { name: d.name, sizeBytes: d.sizeBytes, path: file, existing: true };
}
