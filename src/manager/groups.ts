/**
 * Protection groups, their VMs and their disks, as rows. A group is stored at
 * both of its sites (the protected one, where its VMs write, and the recovery
 * one, which keeps its journal), so that either can show and recover it.
 * Names are checked at the API boundary; here they are trusted.
 */
import type { Db } from "./database.js";
import { ConflictError, NotFoundError } from "./errors.js";
import type { GroupStateName } from "./group-state.js";

export const PRIORITIES = ["high", "medium", "low"] as const;
export type Priority = (typeof PRIORITIES)[number];

/** How recovered VMs are started (orchestration/compute): which driver, and what it needs. */
export interface ComputeSettings {
  driver: "none" | "qemu" | "script";
  memoryMiB?: number;
  cpus?: number;
  /** script driver: the operator's commands, with the VM's disks and network in the environment. */
  start?: string;
  stop?: string;
  timeoutMs?: number;
  /** Test network: "none" (no NIC, the default) or "isolated" (user-mode networking that reaches nothing outside). */
  testNetwork?: "none" | "isolated";
  /** Live network: a bridge to attach recovered VMs to (qemu); user-mode networking without one. */
  liveBridge?: string;
  /** The operator's scripts around each recovery operation (re-IP, DNS, notifications), run at the recovery site. */
  beforeScript?: string;
  afterScript?: string;
  scriptTimeoutMs?: number;
}

export interface GroupSettings {
  rpoTargetMs: number;
  historyMs: number;
  journalLimitBytes: number;
  checkpointIntervalMs: number;
  bandwidthBytesPerSec: number | null;
  priority: Priority;
  compression: boolean;
  compute: ComputeSettings;
}

export const DEFAULT_SETTINGS: GroupSettings = {
  rpoTargetMs: 30_000,
  historyMs: 4 * 3_600_000,
  journalLimitBytes: 20 * 1024 ** 3,
  checkpointIntervalMs: 1000,
  bandwidthBytesPerSec: null,
  priority: "medium",
  compression: true,
  compute: { driver: "none" },
};

export interface Disk {
  name: string;
  sizeBytes: number;
  path: string;
  /** The file held data when the disk was added: it needs an initial sync. */
  existing: boolean;
}

/**
 * A VM's own compute settings; each one left out falls back to the group's
 * (ComputeSettings). Network mappings are "from → to" pairs that the drivers
 * get: the script driver as LIFELINE_NET_<FROM>, qemu reads its own keys
 * ("isolated-user-net" on the test network, "bridge" on the live one).
 */
export interface VmCompute {
  memoryMiB?: number;
  cpus?: number;
  /** qemu: appended to the command line. */
  qemuArgs?: string[];
  testNetwork?: Record<string, string>;
  liveNetwork?: Record<string, string>;
}

export interface Vm {
  name: string;
  bootOrder: number;
  bootDelayMs: number;
  /** Empty when the VM takes all of the group's settings. */
  compute?: VmCompute;
  disks: Disk[];
}

/** A group recovered at this site: "uncommitted" until commit or rollback, "committed" until protection is reversed. */
export type FailoverMark = "none" | "uncommitted" | "committed";

export interface Group extends GroupSettings {
  name: string;
  protectedSite: string;
  recoverySite: string;
  paused: boolean;
  failover: FailoverMark;
  state: GroupStateName;
  stateReason: string;
  createdAt: number;
  updatedAt: number;
  vms: Vm[];
}

interface GroupRow {
  name: string;
  protected_site: string;
  recovery_site: string;
  rpo_target_ms: number;
  history_ms: number;
  journal_limit_bytes: number;
  checkpoint_interval_ms: number;
  bandwidth_bytes_per_s: number | null;
  priority: Priority;
  compression: number;
  compute: string;
  paused: number;
  failover: FailoverMark;
  state: GroupStateName;
  state_reason: string;
  created_at: number;
  updated_at: number;
}

export class GroupStore {
  readonly #db: Db;
  constructor(db: Db) {
    this.#db = db;
  }

  has(name: string): boolean {
    return this.#db.prepare("SELECT 1 FROM groups WHERE name = ?").get(name) !== undefined;
  }

  create(name: string, protectedSite: string, recoverySite: string, settings: GroupSettings, state: { state: GroupStateName; reason: string }): Group {
    if (this.has(name)) throw new ConflictError("group_exists", `group "${name}" already exists`, `change it with: lifeline group update ${name}`);
    const now = Date.now();
    this.#db
      .prepare(
        `INSERT INTO groups (name, protected_site, recovery_site, rpo_target_ms, history_ms, journal_limit_bytes, checkpoint_interval_ms,
           bandwidth_bytes_per_s, priority, compression, compute, state, state_reason, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(name, protectedSite, recoverySite, settings.rpoTargetMs, settings.historyMs, settings.journalLimitBytes, settings.checkpointIntervalMs,
        settings.bandwidthBytesPerSec, settings.priority, settings.compression ? 1 : 0, JSON.stringify(settings.compute), state.state, state.reason, now, now);
    return this.get(name);
  }

  update(name: string, settings: Partial<GroupSettings>): Group {
    const g = { ...this.get(name), ...settings };
    this.#db
      .prepare(
        `UPDATE groups SET rpo_target_ms = ?, history_ms = ?, journal_limit_bytes = ?, checkpoint_interval_ms = ?,
           bandwidth_bytes_per_s = ?, priority = ?, compression = ?, compute = ?, updated_at = ? WHERE name = ?`,
      )
      .run(g.rpoTargetMs, g.historyMs, g.journalLimitBytes, g.checkpointIntervalMs, g.bandwidthBytesPerSec, g.priority, g.compression ? 1 : 0, JSON.stringify(g.compute), Date.now(), name);
    return this.get(name);
  }

  setState(name: string, state: GroupStateName, reason: string): void {
    this.#db.prepare("UPDATE groups SET state = ?, state_reason = ? WHERE name = ?").run(state, reason, name);
  }

  setFailover(name: string, mark: FailoverMark): void {
    this.#db.prepare("UPDATE groups SET failover = ?, updated_at = ? WHERE name = ?").run(mark, Date.now(), name);
  }

  setPaused(name: string, paused: boolean): void {
    this.#db.prepare("UPDATE groups SET paused = ?, updated_at = ? WHERE name = ?").run(paused ? 1 : 0, Date.now(), name);
  }

  delete(name: string): Group {
    const g = this.get(name);
    this.#db.prepare("DELETE FROM groups WHERE name = ?").run(name);
    return g;
  }

  get(name: string): Group {
    const row = this.#db.prepare("SELECT * FROM groups WHERE name = ?").get(name) as GroupRow | undefined;
    if (!row) throw new NotFoundError("group", name, "list groups with: lifeline status");
    return this.#withVms(row);
  }

  list(): Group[] {
    return (this.#db.prepare("SELECT * FROM groups ORDER BY name").all() as GroupRow[]).map((r) => this.#withVms(r));
  }

  /** Writes a whole group definition as the other site sent it (the recovery site's copy). */
  replace(name: string, protectedSite: string, recoverySite: string, settings: GroupSettings, vms: Vm[]): Group {
    this.#db.transaction(() => {
      if (this.has(name)) {
        this.update(name, settings);
        this.#db.prepare("DELETE FROM vms WHERE group_name = ?").run(name);
      } else {
        this.create(name, protectedSite, recoverySite, settings, { state: "empty", reason: "" });
      }
      for (const vm of vms) this.addVm(name, vm, vm.disks);
    })();
    return this.get(name);
  }

  /** Reverse protection: the group's sites trade roles, its disks live at new paths, and no failover is left open. */
  reverse(name: string, protectedSite: string, recoverySite: string, vms: Vm[]): Group {
    this.#db.transaction(() => {
      this.#db.prepare("UPDATE groups SET protected_site = ?, recovery_site = ?, failover = 'none', updated_at = ? WHERE name = ?").run(protectedSite, recoverySite, Date.now(), name);
      this.#db.prepare("DELETE FROM vms WHERE group_name = ?").run(name);
      for (const vm of vms) this.addVm(name, vm, vm.disks);
    })();
    return this.get(name);
  }

  addVm(group: string, vm: Omit<Vm, "disks">, disks: Disk[]): Group {
    this.get(group);
    const exists = this.#db.prepare("SELECT 1 FROM vms WHERE group_name = ? AND name = ?").get(group, vm.name);
    if (exists) throw new ConflictError("vm_exists", `VM "${vm.name}" is already in group "${group}"`, `remove it first with: lifeline vm remove ${group} ${vm.name}`);
    const used = this.#db.prepare("SELECT group_name, vm_name, name FROM disks WHERE path IN (SELECT value FROM json_each(?))").all(JSON.stringify(disks.map((d) => d.path))) as { group_name: string; vm_name: string; name: string }[];
    if (used.length > 0) {
      const u = used[0]!;
      throw new ConflictError("disk_in_use", `that disk file is already ${u.group_name}/${u.vm_name}/${u.name}`, "give each disk its own file");
    }
    this.#db.transaction(() => {
      this.#db.prepare("INSERT INTO vms (group_name, name, boot_order, boot_delay_ms, compute, created_at) VALUES (?, ?, ?, ?, ?, ?)").run(group, vm.name, vm.bootOrder, vm.bootDelayMs, JSON.stringify(vm.compute ?? {}), Date.now());
      const insert = this.#db.prepare("INSERT INTO disks (group_name, vm_name, name, size_bytes, path, existing) VALUES (?, ?, ?, ?, ?, ?)");
      for (const d of disks) insert.run(group, vm.name, d.name, d.sizeBytes, d.path, d.existing ? 1 : 0);
      this.#db.prepare("UPDATE groups SET updated_at = ? WHERE name = ?").run(Date.now(), group);
    })();
    return this.get(group);
  }

  /** Replaces a VM's own compute settings (an empty object: the group's for everything). */
  setVmCompute(group: string, vm: string, compute: VmCompute): Group {
    const r = this.#db.prepare("UPDATE vms SET compute = ? WHERE group_name = ? AND name = ?").run(JSON.stringify(compute), group, vm);
    if (r.changes === 0) throw new NotFoundError("VM", `${group}/${vm}`, `list the group's VMs with: lifeline status ${group}`);
    this.#db.prepare("UPDATE groups SET updated_at = ? WHERE name = ?").run(Date.now(), group);
    return this.get(group);
  }

  removeVm(group: string, vm: string): Vm {
    const found = this.get(group).vms.find((v) => v.name === vm);
    if (!found) throw new NotFoundError("VM", `${group}/${vm}`, `list the group's VMs with: lifeline status ${group}`);
    this.#db.prepare("DELETE FROM vms WHERE group_name = ? AND name = ?").run(group, vm);
    return found;
  }

  #withVms(row: GroupRow): Group {
    const vms = this.#db.prepare("SELECT * FROM vms WHERE group_name = ? ORDER BY boot_order, name").all(row.name) as { name: string; boot_order: number; boot_delay_ms: number; compute: string }[];
    const disks = this.#db.prepare("SELECT * FROM disks WHERE group_name = ? ORDER BY vm_name, name").all(row.name) as { vm_name: string; name: string; size_bytes: number; path: string; existing: number }[];
    return {
      name: row.name,
      protectedSite: row.protected_site,
      recoverySite: row.recovery_site,
      rpoTargetMs: row.rpo_target_ms,
      historyMs: row.history_ms,
      journalLimitBytes: row.journal_limit_bytes,
      checkpointIntervalMs: row.checkpoint_interval_ms,
      bandwidthBytesPerSec: row.bandwidth_bytes_per_s,
      priority: row.priority,
      compression: row.compression === 1,
      compute: JSON.parse(row.compute) as ComputeSettings,
      paused: row.paused === 1,
      failover: row.failover,
      state: row.state,
      stateReason: row.state_reason,
      createdAt: row.created_at,
      updatedAt: row.updated_at,
      vms: vms.map((v) => ({
        name: v.name,
        bootOrder: v.boot_order,
        bootDelayMs: v.boot_delay_ms,
        compute: JSON.parse(v.compute) as VmCompute,
        disks: disks.filter((d) => d.vm_name === v.name).map((d) => ({ name: d.name, sizeBytes: d.size_bytes, path: d.path, existing: d.existing === 1 })),
      })),
    };
  }
}
