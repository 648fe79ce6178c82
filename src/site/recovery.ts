/**
 * Recovery operations at a group's recovery site, as the API and the CLI ask
 * for them: failover test start and stop, live failover, commit, rollback and
 * restore. Each runs as a task (orchestration/tasks.ts) saved in the site's
 * database; the call returns as soon as the task has started, and its steps
 * and progress are read from `GET /tasks/:id` while it runs.
 *
 * One operation per group at a time: the slot is taken synchronously, before
 * anything is awaited, so a second request finds it taken and gets a 409
 * saying what runs. What a group is doing here (a test, a failover) is kept in
 * memory and in the journal's pins and the group's failover mark, so that a
 * restart rolls back an interrupted test and serves an interrupted failover
 * again (`resume`).
 */
import fs from "node:fs/promises";
import path from "node:path";
import { PointNotFoundError } from "../journal/index.js";
import { ConflictError, NotFoundError, UnprocessableError, randomId, type Group, type ReportHead } from "../manager/index.js";
import {
  FailoverTest,
  LiveFailover,
  NoneDriver,
  newTask,
  runTask,
  parsePoint,
  recoverAfterRestart,
  resolvePoint,
  restoreDisk,
  type RecoveryGroup,
  type ResolvedPoint,
  type TaskRecord,
  type TaskStore,
  type TestReport,
} from "../orchestration/index.js";
import type { RecoveryAccess } from "./appliance.js";
import type { SiteContext } from "./context.js";

export interface Report extends ReportHead {
  by: string;
  point: ResolvedPoint;
  startedAtMs: number;
  endedAtMs: number;
  durationMs: number;
  result: string;
  notes: string;
  vms: string[];
  /** The test disks or recovered disks as they were served. */
  exports: string[];
}

type Activity =
  | { kind: "test"; test: FailoverTest | undefined; busy: string | undefined }
  | { kind: "failover"; failover: LiveFailover | undefined; busy: string | undefined; startedAtMs: number };

export class Recovery {
  readonly #ctx: SiteContext;
  readonly #active = new Map<string, Activity>();

  constructor(ctx: SiteContext) {
    this.#ctx = ctx;
  }

  /** What runs for a group here, for its state. */
  activity(group: string): "test" | "failover" | undefined {
    return this.#active.get(group)?.kind;
  }

  startTest(name: string, pointText: string | undefined, by: string): Promise<TaskRecord> {
    const { group, access } = this.#recoverable(name);
    this.#claim(name, { kind: "test", test: undefined, busy: "starting a failover test" });
    return this.#run(name, async (store) => {
      const point = this.#resolve(access, pointText);
      const test = new FailoverTest(this.#recoveryGroup(group, access), point, by);
      const task = await test.start(store);
      if (task.state === "succeeded") {
        this.#active.set(name, { kind: "test", test, busy: undefined });
        this.#ctx.manager.events.add({ severity: "info", kind: "test-started", group: name, message: `failover test of ${name} started at ${point.label} by ${by}` });
      } else this.#active.delete(name);
      return task;
    });
  }

  stopTest(name: string, result: TestReport["result"], notes: string, by: string): Promise<TaskRecord> {
    const a = this.#active.get(name);
    if (a?.kind !== "test" || !a.test) throw new ConflictError("no_test", `no failover test of group "${name}" runs here`, a ? `the group is ${a.busy ?? a.kind}` : "start one with: lifeline test start");
    if (a.busy) throw new ConflictError("operation_running", `group "${name}" is busy: ${a.busy}`, "wait for it to end (lifeline tasks)");
    const test = a.test;
    a.busy = "stopping its failover test";
    return this.#run(name, async (store) => {
      const { task, report } = await test.stop(store, result, notes);
      this.#active.delete(name);
      this.#report({ kind: "test", group: name, by: report.by, point: report.point, startedAtMs: report.startedAtMs, endedAtMs: report.stoppedAtMs, result, notes, vms: report.vms, exports: test.exportNames });
      this.#ctx.manager.events.add({ severity: "info", kind: "test-stopped", group: name, message: `failover test of ${name} stopped by ${by}: ${result}` });
      return task;
    });
  }

  failover(name: string, pointText: string | undefined, by: string, options: { shutdownSource?: boolean } = {}): Promise<TaskRecord> {
    const { group, access } = this.#recoverable(name);
    if (options.shutdownSource) {
      throw new UnprocessableError("not_supported", "--shutdown-source is not supported yet", "stop the protected VMs by hand, wait for RPO 0, then fail over (or use lifeline move)");
    }
    this.#claim(name, { kind: "failover", failover: undefined, busy: "failing over", startedAtMs: Date.now() });
    const groups = this.#ctx.manager.groups;
    return this.#run(name, async (store) => {
      const point = this.#resolve(access, pointText);
      const control = {
        stop: async () => {
          groups.setFailover(name, "uncommitted");
          await access.stopReplication(`failed over to ${point.label} by ${by}`);
        },
        resume: async () => {
          access.resumeReplication();
          groups.setFailover(name, "none");
        },
      };
      const failover = new LiveFailover(this.#recoveryGroup(group, access), point, by, control);
      const task = await failover.start(store);
      if (task.state === "succeeded") {
        this.#active.set(name, { kind: "failover", failover, busy: undefined, startedAtMs: Date.now() });
        this.#ctx.manager.events.add({ severity: "warning", kind: "failed-over", group: name, message: `group ${name} failed over to ${point.label} by ${by}: commit or roll back` });
      } else this.#active.delete(name);
      return task;
    });
  }

  commit(name: string, by: string): Promise<TaskRecord> {
    const { a, failover } = this.#failedOver(name, "commit");
    a.busy = "committing its failover";
    return this.#run(name, async (store) => {
      const task = await failover.commit(store);
      a.busy = undefined;
      if (task.state === "succeeded") {
        this.#ctx.manager.groups.setFailover(name, "committed");
        this.#failoverReport(failover, a.startedAtMs, "committed");
        this.#ctx.manager.events.add({ severity: "info", kind: "failover-committed", group: name, message: `failover of ${name} to ${failover.point.label} committed by ${by}` });
      }
      return task;
    });
  }

  rollback(name: string, by: string): Promise<TaskRecord> {
    const { a, failover } = this.#failedOver(name, "roll back");
    a.busy = "rolling back its failover";
    return this.#run(name, async (store) => {
      const task = await failover.rollback(store);
      a.busy = undefined;
      if (task.state === "succeeded") {
        this.#active.delete(name);
        this.#failoverReport(failover, a.startedAtMs, "rolled back");
        this.#ctx.manager.events.add({ severity: "info", kind: "failover-rolled-back", group: name, message: `failover of ${name} rolled back by ${by}; replication resumes` });
      }
      return task;
    });
  }

  /** A disk at a point, to a sparse raw image; read-only, so it runs beside anything else. */
  restore(name: string, vmDisk: string, pointText: string | undefined, outPath: string, by: string): Promise<TaskRecord> {
    const { group, access } = this.#recoverable(name, { allowFailedOver: true });
    const [vm, disk] = vmDisk.split("/");
    if (!group.vms.some((v) => v.name === vm && v.disks.some((d) => d.name === disk))) {
      throw new NotFoundError("disk", `${name}/${vmDisk}`, `list the group's disks with: lifeline status ${name}`);
    }
    if (!path.isAbsolute(outPath)) throw new UnprocessableError("invalid_path", `the output path must be absolute, not "${outPath}"`, "the file is written by the site daemon");
    const point = this.#resolve(access, pointText);
    return this.#run(name, async (store) => {
      const task = newTask("restore", name, by, [`write ${vmDisk} at ${point.label} to ${outPath}`]);
      return runTask(task, [
        {
          name: task.steps[0]!.name,
          run: async (ctx) => {
            await fs.mkdir(path.dirname(outPath), { recursive: true });
            const r = await restoreDisk(access.journal, vmDisk, point, outPath, (done, total) => ctx.progress(total > 0 ? done / total : 1));
            return `${r.dataBytes} bytes of data in a ${r.sizeBytes}-byte image`;
          },
        },
      ], store);
    }, { slot: false });
  }

  /**
   * After a restart: tasks left running are closed, an interrupted test is
   * rolled back, an interrupted failover is served again, a committed one
   * keeps replication stopped.
   */
  async resume(): Promise<void> {
    const { manager, log } = this.#ctx;
    for (const g of manager.groups.list()) {
      if (g.recoverySite !== this.#ctx.name) continue;
      const access = this.#ctx.appliance.recovery?.(g.name);
      if (!access) continue;
      try {
        const control = { stop: async () => {}, resume: async () => {} };
        const r = await recoverAfterRestart(this.#recoveryGroup(g, access), control);
        if (r.failoverResumed) {
          await access.stopReplication(`failed over to ${r.failoverResumed.point.label} (resumed after a restart)`);
          manager.groups.setFailover(g.name, "uncommitted");
          this.#active.set(g.name, { kind: "failover", failover: r.failoverResumed, busy: undefined, startedAtMs: Date.now() });
        } else if (g.failover === "committed") {
          await access.stopReplication("the failover was committed; protect the group back with reverse protection");
          this.#serveCommitted(g, access);
        } else if (g.failover === "uncommitted") {
          manager.groups.setFailover(g.name, "none");
        }
        if (r.testsRolledBack > 0) manager.events.add({ severity: "warning", kind: "test-rolled-back", group: g.name, message: `a failover test of ${g.name} was cut short by a restart and rolled back` });
      } catch (err) {
        log.error({ err, group: g.name }, "recovery state could not be restored after the restart");
        manager.events.raise("recovery-resume-failed", g.name, "critical", `group ${g.name}: recovery state could not be restored: ${(err as Error).message}`, g.name);
      }
    }
    for (const t of manager.tasks.running() as TaskRecord[]) {
      const served = this.#active.get(t.group)?.kind === "failover";
      t.state = t.kind === "failover" && served ? "failed" : "rolled-back";
      t.error = served ? "interrupted by a restart: the recovered disks are served again from the pinned point; commit or roll back" : "interrupted by a restart: rolled back";
      t.endedAtMs = Date.now();
      manager.tasks.save(t);
    }
  }

  /** A committed failover's disks are the replica files now: served read-write, as the recovered VMs use them. */
  #serveCommitted(g: Group, access: RecoveryAccess): void {
    for (const v of g.vms) {
      for (const d of v.disks) {
        const device = access.journal.replica(access.journal.disk(`${v.name}/${d.name}`).id);
        access.exports.add({ name: `${g.name}/${v.name}/${d.name}`, description: `${g.name} recovered here (committed)`, device });
      }
    }
  }

  #recoverable(name: string, options: { allowFailedOver?: boolean } = {}): { group: Group; access: RecoveryAccess } {
    const group = this.#ctx.manager.groups.get(name);
    if (group.recoverySite !== this.#ctx.name) {
      throw new ConflictError("not_recovery_site", `group "${name}" is recovered at its recovery site ${group.recoverySite}, not here`, `run the command against site ${group.recoverySite}`);
    }
    if (group.failover === "committed" && !options.allowFailedOver) {
      throw new ConflictError("failed_over", `group "${name}" was failed over and committed here`, "protect it back with: lifeline reverse-protect");
    }
    const access = this.#ctx.appliance.recovery?.(name);
    if (!access) throw new UnprocessableError("no_journal", `group "${name}" has no journal here yet`, "add VMs with disks at the protected site and wait for the initial sync");
    return { group, access };
  }

  #claim(name: string, activity: Activity): void {
    const a = this.#active.get(name);
    if (a) {
      const what = a.busy ?? (a.kind === "test" ? "a failover test runs" : "it is failed over");
      throw new ConflictError("operation_running", `group "${name}" is busy: ${what}`, a.kind === "test" ? "stop the test first: lifeline test stop" : "commit or roll back first");
    }
    this.#active.set(name, activity);
  }

  #failedOver(name: string, what: string): { a: Activity & { kind: "failover" }; failover: LiveFailover } {
    const group = this.#ctx.manager.groups.get(name);
    const a = this.#active.get(name);
    if (a?.kind !== "failover" || !a.failover) {
      const why = group.failover === "committed" ? "its failover is already committed" : "it is not failed over";
      throw new ConflictError("not_failed_over", `cannot ${what} group "${name}": ${why}`, "fail over first with: lifeline failover");
    }
    if (a.busy) throw new ConflictError("operation_running", `group "${name}" is busy: ${a.busy}`, "wait for it to end (lifeline tasks)");
    return { a, failover: a.failover };
  }

  #resolve(access: RecoveryAccess, text: string | undefined): ResolvedPoint {
    try {
      return resolvePoint(access.journal, parsePoint(text));
    } catch (err) {
      if (err instanceof PointNotFoundError) throw new UnprocessableError("point_not_found", err.message, (err as { hint?: string }).hint);
      throw err;
    }
  }

  /** Starts `op`, resolving with its task as soon as it is first saved (or with its error). */
  #run(name: string, op: (store: TaskStore) => Promise<TaskRecord>, options: { slot?: boolean } = {}): Promise<TaskRecord> {
    const tasks = this.#ctx.manager.tasks;
    let started: (t: TaskRecord) => void = () => {};
    const first = new Promise<TaskRecord>((resolve) => (started = resolve));
    const store: TaskStore = {
      save: (t) => {
        tasks.save(t);
        started(structuredClone(t));
      },
    };
    const done = Promise.resolve().then(() => op(store));
    done.catch((err: unknown) => {
      if (options.slot !== false && this.#active.get(name)?.busy) this.#active.delete(name);
      this.#ctx.log.error({ err, group: name }, "recovery operation failed");
    });
    return Promise.race([first, done]);
  }

  #recoveryGroup(g: Group, access: RecoveryAccess): RecoveryGroup {
    return {
      name: g.name,
      journal: access.journal,
      vms: g.vms.map((v) => ({
        name: v.name,
        bootOrder: v.bootOrder,
        bootDelayMs: v.bootDelayMs,
        disks: v.disks.map((d) => ({ name: d.name, journalDisk: `${v.name}/${d.name}` })),
        networkMapping: { test: {}, live: {} },
      })),
      exports: access.exports,
      driver: new NoneDriver(),
      workDir: path.join(this.#ctx.layout.dir, "recovery", g.name),
    };
  }

  #failoverReport(f: LiveFailover, startedAtMs: number, result: string): void {
    const vms = f.group.vms.map((v) => v.name);
    this.#report({ kind: "failover", group: f.group.name, by: f.by, point: f.point, startedAtMs, endedAtMs: Date.now(), result, notes: "", vms, exports: f.disks.map((d) => d.exportName) });
  }

  #report(r: Omit<Report, "id" | "timeMs" | "durationMs">): void {
    this.#ctx.manager.reports.add({ ...r, id: randomId(r.kind), timeMs: r.endedAtMs, durationMs: r.endedAtMs - r.startedAtMs });
  }
}
