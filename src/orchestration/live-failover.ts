/**
 * A live failover: the group's disks at a point, served for real as
 * `<group>/<vm>/<disk>` at the recovery site, its VMs started on the live
 * network. Replication of the group stops first (the recovery site's copy
 * must not move under the recovered VMs). Then the operator commits or rolls
 * back:
 *
 * - commit folds the journal through the point and what the VMs wrote (their
 *   overlays) into the replica, in the background while the VMs run; writes
 *   they make meanwhile are tracked, and copied again in a brief hold at the
 *   end, when each disk switches from its overlay to the replica under its
 *   connected clients (SwitchDevice). The history after the point is dropped.
 * - rollback stops the VMs, drops the overlays and resumes replication from
 *   where it stopped: nothing is lost.
 */
import fs from "node:fs";
import path from "node:path";
import { SwitchDevice } from "../blockdev/index.js";
import { Overlay, PitView } from "../journal/index.js";
import type { RunningVm } from "./compute/index.js";
import type { ResolvedPoint } from "./point.js";
import { bootSequence, type RecoveryGroup } from "./recovery-group.js";
import { newTask, runTask, aroundEachStep, beforeAllSteps, type Step, type StepHooks, type TaskRecord, type TaskStore } from "./tasks.js";

/** What the site does for a failover: stop and resume the group's replication, quiesce its source. */
export interface ReplicationControl {
  stop(group: string): Promise<void>;
  resume(group: string): Promise<void>;
  /** Quiesce the protected site's exports and wait until the recovery site holds every write (when it answers). */
  shutdownSource?(group: string): Promise<void>;
  /** Undoes `shutdownSource`: a failover that did not happen must not leave the protected site's writes waiting. */
  restoreSource?(group: string): Promise<void>;
}

export type FailoverState = "starting" | "failed-over" | "committing" | "committed" | "rolled-back";

interface ServedDisk {
  exportName: string;
  journalDisk: string;
  view: PitView;
  overlay: Overlay;
  scratch: string;
  device: SwitchDevice;
}

export class LiveFailover {
  readonly group: RecoveryGroup;
  readonly point: ResolvedPoint;
  readonly by: string;
  readonly disks: ServedDisk[] = [];
  readonly vms: RunningVm[] = [];
  #state: FailoverState = "starting";
  readonly #control: ReplicationControl;
  #pinId: string | undefined;

  constructor(group: RecoveryGroup, point: ResolvedPoint, by: string, control: ReplicationControl) {
    this.group = group;
    this.point = point;
    this.by = by;
    this.#control = control;
  }

  get state(): FailoverState {
    return this.#state;
  }

  async start(store: TaskStore, options: { shutdownSource?: boolean; hooks?: StepHooks } = {}): Promise<TaskRecord> {
    const steps: Step[] = [];
    if (options.shutdownSource && this.#control.shutdownSource) {
      steps.push({
        name: "quiesce the protected site",
        run: async () => this.#control.shutdownSource!(this.group.name),
        undo: async () => this.#control.restoreSource?.(this.group.name),
      });
    }
    steps.push(
      { name: "stop replication", run: () => this.#control.stop(this.group.name), undo: () => this.#control.resume(this.group.name) },
      { name: "pin the point", run: () => this.#pin(), undo: () => this.#unpin() },
      { name: "open views and overlays", run: (ctx) => this.#openDisks((f) => ctx.progress(f)), undo: () => this.#closeDisks() },
      { name: "export recovered disks", run: async () => this.#exportDisks(), undo: async () => this.#unexportDisks() },
      { name: "start VMs on the live network", run: () => this.#startVms(), undo: () => this.#stopVms() },
    );
    const wrapped = aroundEachStep(steps, options.hooks);
    const task = await runTask(newTask("failover", this.group.name, this.by, wrapped.map((s) => s.name)), wrapped, store);
    this.#state = task.state === "succeeded" ? "failed-over" : "rolled-back";
    return task;
  }

  /** The before script only, ahead of all steps: a commit cannot be undone once it folded. */
  async commit(store: TaskStore, hooks?: StepHooks): Promise<TaskRecord> {
    this.#expect("failed-over", "commit");
    this.#state = "committing";
    const steps: Step[] = beforeAllSteps([
      { name: "track writes", run: async () => this.disks.forEach((d) => d.device.track()) },
      { name: "fold the journal and overlays into the replica", run: (ctx) => this.#fold((f, text) => ctx.progress(f, text)) },
      { name: "switch disks to the replica", run: () => this.#switchToReplica() },
      { name: "drop overlays and pin", run: () => this.#dropOverlays() },
    ], hooks);
    const task = await runTask(newTask("commit", this.group.name, this.by, steps.map((s) => s.name)), steps, store);
    this.#state = task.state === "succeeded" ? "committed" : "failed-over";
    return task;
  }

  async rollback(store: TaskStore, hooks?: StepHooks): Promise<TaskRecord> {
    this.#expect("failed-over", "roll back");
    const steps: Step[] = beforeAllSteps([
      { name: "stop VMs", run: () => this.#stopVms() },
      { name: "remove recovered exports", run: async () => this.#unexportDisks() },
      { name: "drop overlays", run: () => this.#closeDisks() },
      { name: "unpin the point", run: () => this.#unpin() },
      { name: "resume replication", run: () => this.#control.resume(this.group.name) },
    ], hooks);
    const task = await runTask(newTask("rollback", this.group.name, this.by, steps.map((s) => s.name)), steps, store);
    if (task.state === "succeeded") this.#state = "rolled-back";
    return task;
  }

  /**
   * After a restart: serves the disks again from the pinned point and the
   * overlays left on disk (their writes kept), without starting VMs.
   */
  async reopen(pinId: string): Promise<void> {
    this.#expect("starting", "reopen");
    this.#pinId = pinId;
    await this.#openDisks(() => {}, { keepOverlays: true });
    this.#exportDisks();
    this.#state = "failed-over";
  }

  #expect(state: FailoverState, what: string): void {
    if (this.#state !== state) throw new Error(`cannot ${what} group ${this.group.name}: it is ${this.#state}, not ${state}`);
  }

  async #pin(): Promise<string> {
    this.#pinId = (await this.group.journal.pin(this.point.seq, `failover of ${this.group.name} by ${this.by}`, "failover")).id;
    return `pinned ${this.point.label}`;
  }

  async #unpin(): Promise<void> {
    if (this.#pinId === undefined) return;
    await this.group.journal.unpin(this.#pinId);
    this.#pinId = undefined;
  }

  async #openDisks(progress: (fraction: number) => void, options: { keepOverlays?: boolean } = {}): Promise<string> {
    const dir = path.join(this.group.workDir, "failover-overlays");
    fs.mkdirSync(dir, { recursive: true });
    const all = this.group.vms.flatMap((vm) => vm.disks.map((disk) => ({ vm, disk })));
    for (const [i, { vm, disk }] of all.entries()) {
      const view = await PitView.open(this.group.journal, disk.journalDisk, this.point.seq);
      const scratch = path.join(dir, `${vm.name}-${disk.name}.scratch`);
      if (!options.keepOverlays) await Overlay.discard(scratch);
      const overlay = await Overlay.open(view, scratch);
      const exportName = `${this.group.name}/${vm.name}/${disk.name}`;
      this.disks.push({ exportName, journalDisk: disk.journalDisk, view, overlay, scratch, device: new SwitchDevice(overlay) });
      progress((i + 1) / all.length);
    }
    return `${all.length} disks at ${this.point.label}`;
  }

  async #closeDisks(): Promise<void> {
    for (const d of this.disks.splice(0)) {
      await d.overlay.close();
      await d.view.close();
      await Overlay.discard(d.scratch);
    }
  }

  #exportDisks(): string {
    for (const d of this.disks) {
      this.group.exports.add({ name: d.exportName, description: `${this.group.name} failed over to ${this.point.label}`, device: d.device });
    }
    return this.disks.map((d) => this.group.exports.uri(d.exportName)).join(" ");
  }

  #unexportDisks(): void {
    for (const d of this.disks) this.group.exports.remove(d.exportName);
  }

  async #startVms(): Promise<string> {
    for (const vm of bootSequence(this.group.vms)) {
      if (this.vms.length > 0 && vm.bootDelayMs > 0) await new Promise((r) => setTimeout(r, vm.bootDelayMs));
      const disks = vm.disks.map((disk) => ({ name: disk.name, uri: this.group.exports.uri(`${this.group.name}/${vm.name}/${disk.name}`) }));
      this.vms.push(
        await this.group.driver.start({
          name: vm.name,
          group: this.group.name,
          disks,
          network: "live",
          networkMapping: vm.networkMapping.live,
          memoryMiB: vm.memoryMiB,
          cpus: vm.cpus,
          ...(vm.extraArgs ? { extraArgs: vm.extraArgs } : {}),
          workDir: path.join(this.group.workDir, "vms"),
        }),
      );
    }
    return `${this.vms.length} VMs started (${this.group.driver.kind})`;
  }

  async #stopVms(): Promise<void> {
    for (const vm of this.vms.splice(0).reverse()) await vm.stop();
  }

  async #fold(progress: (fraction: number, text: string) => void): Promise<void> {
    const overlays = new Map(this.disks.map((d) => [d.journalDisk, d.overlay]));
    await this.group.journal.commit(this.point.seq, overlays, (phase, done, total) => progress(total > 0 ? done / total : 1, phase));
  }

  async #switchToReplica(): Promise<string> {
    let copied = 0;
    for (const d of this.disks) {
      const replica = this.group.journal.replica(this.group.journal.disk(d.journalDisk).id);
      await d.device.hold();
      try {
        for (const r of d.device.takeTracked()) {
          await replica.write(r.offset, await d.overlay.read(r.offset, r.length));
          copied += r.length;
        }
        await replica.flush();
        d.device.switchTo(replica);
      } finally {
        d.device.release();
      }
    }
    return `${copied} bytes written during the fold copied again`;
  }

  async #dropOverlays(): Promise<void> {
    for (const d of this.disks) {
      await d.overlay.close();
      await d.view.close();
      await Overlay.discard(d.scratch);
    }
    await this.#unpin();
  }
}
