/**
 * A failover test: the group's disks as they were at a point, served as
 * `test/<group>/<vm>/<disk>` through copy-on-write overlays, and its VMs
 * booted on the isolated test network; replication goes on meanwhile, and
 * nothing written in the test reaches the replica or production (overlays
 * write to scratch files; the views under them are read-only). Stopping
 * stops the VMs, drops the overlays and the pin, and returns the report.
 */
import fs from "node:fs";
import path from "node:path";
import type { BlockDevice } from "../blockdev/index.js";
import { Overlay, PitView } from "../journal/index.js";
import type { RunningVm } from "./compute/index.js";
import { type ResolvedPoint } from "./point.js";
import { bootSequence, type RecoveryGroup } from "./recovery-group.js";
import { newTask, runTask, aroundEachStep, beforeAllSteps, type Step, type StepHooks, type TaskRecord, type TaskStore } from "./tasks.js";

export interface TestReport {
  group: string;
  by: string;
  point: ResolvedPoint;
  startedAtMs: number;
  stoppedAtMs: number;
  durationMs: number;
  result: "pass" | "fail" | "unknown";
  notes: string;
  vms: string[];
}

interface OpenDisk {
  exportName: string;
  view: PitView;
  overlay: Overlay;
  scratch: string;
}

export class FailoverTest {
  readonly group: RecoveryGroup;
  readonly point: ResolvedPoint;
  readonly by: string;
  readonly startedAtMs = Date.now();
  readonly disks: OpenDisk[] = [];
  readonly vms: RunningVm[] = [];
  #pinId: string | undefined;

  constructor(group: RecoveryGroup, point: ResolvedPoint, by: string) {
    this.group = group;
    this.point = point;
    this.by = by;
  }

  /** Export names, in VM and disk order. */
  get exportNames(): string[] {
    return this.disks.map((d) => d.exportName);
  }

  /** Starts the test as a task; on failure everything done so far is undone. */
  async start(store: TaskStore, hooks?: StepHooks): Promise<TaskRecord> {
    const steps: Step[] = aroundEachStep([
      { name: "pin the point", run: () => this.#pin(), undo: () => this.#unpin() },
      { name: "open views and overlays", run: (ctx) => this.#openDisks((f) => ctx.progress(f)), undo: () => this.#closeDisks() },
      { name: "export test disks", run: async () => this.#exportDisks(), undo: async () => this.#unexportDisks() },
      { name: "start VMs on the test network", run: () => this.#startVms(), undo: () => this.#stopVms() },
    ], hooks);
    return runTask(newTask("test-start", this.group.name, this.by, steps.map((s) => s.name)), steps, store);
  }

  /** The before script only, ahead of all steps: once a test is stopping, there is nothing to undo. */
  async stop(store: TaskStore, result: TestReport["result"], notes: string, hooks?: StepHooks): Promise<{ task: TaskRecord; report: TestReport }> {
    const steps: Step[] = beforeAllSteps([
      { name: "stop VMs", run: () => this.#stopVms() },
      { name: "remove test exports", run: async () => this.#unexportDisks() },
      { name: "drop overlays", run: () => this.#closeDisks() },
      { name: "unpin the point", run: () => this.#unpin() },
    ], hooks);
    const task = await runTask(newTask("test-stop", this.group.name, this.by, steps.map((s) => s.name)), steps, store);
    const stoppedAtMs = Date.now();
    const report: TestReport = {
      group: this.group.name,
      by: this.by,
      point: this.point,
      startedAtMs: this.startedAtMs,
      stoppedAtMs,
      durationMs: stoppedAtMs - this.startedAtMs,
      result,
      notes,
      vms: this.group.vms.map((v) => v.name),
    };
    return { task, report };
  }

  async #pin(): Promise<string> {
    const pin = await this.group.journal.pin(this.point.seq, `test of ${this.group.name} by ${this.by}`, "test");
    this.#pinId = pin.id;
    return `pinned ${this.point.label}`;
  }

  async #unpin(): Promise<void> {
    if (this.#pinId === undefined) return;
    await this.group.journal.unpin(this.#pinId);
    this.#pinId = undefined;
  }

  async #openDisks(progress: (fraction: number) => void): Promise<string> {
    const dir = path.join(this.group.workDir, "test-overlays");
    fs.mkdirSync(dir, { recursive: true });
    const all = this.group.vms.flatMap((vm) => vm.disks.map((disk) => ({ vm, disk })));
    for (const [i, { vm, disk }] of all.entries()) {
      const view = await PitView.open(this.group.journal, disk.journalDisk, this.point.seq);
      const scratch = path.join(dir, `${vm.name}-${disk.name}.scratch`);
      await Overlay.discard(scratch);
      const overlay = await Overlay.open(view, scratch);
      this.disks.push({ exportName: `test/${this.group.name}/${vm.name}/${disk.name}`, view, overlay, scratch });
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
      this.group.exports.add({ name: d.exportName, description: `test of ${this.group.name} at ${this.point.label}`, device: d.overlay as BlockDevice });
    }
    return this.disks.map((d) => this.group.exports.uri(d.exportName)).join(" ");
  }

  #unexportDisks(): void {
    for (const d of this.disks) this.group.exports.remove(d.exportName);
  }

  async #startVms(): Promise<string> {
    for (const vm of bootSequence(this.group.vms)) {
      if (this.vms.length > 0 && vm.bootDelayMs > 0) await new Promise((r) => setTimeout(r, vm.bootDelayMs));
      const disks = vm.disks.map((disk) => ({ name: disk.name, uri: this.group.exports.uri(`test/${this.group.name}/${vm.name}/${disk.name}`) }));
      this.vms.push(
        await this.group.driver.start({
          name: vm.name,
          group: this.group.name,
          disks,
          network: "test",
          networkMapping: vm.networkMapping.test,
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
}
