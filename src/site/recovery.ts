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
import { SwitchDevice } from "../blockdev/index.js";
import { PointNotFoundError } from "../journal/index.js";
import { ConflictError, NotFoundError, UnprocessableError, randomId, type Group, type ReportHead } from "../manager/index.js";
import {
  FailoverTest,
  LiveFailover,
  newTask,
  runTask,
  parsePoint,
  recoverAfterRestart,
  resolvePoint,
  restoreDisk,
  type RecoveryGroup,
  type ReplicationControl,
  type StepHooks,
  type ResolvedPoint,
  type TaskRecord,
  type TaskStore,
  type TestReport,
} from "../orchestration/index.js";
import type { Checkpoint, RecoveryAccess } from "./appliance.js";
import type { SiteContext } from "./context.js";
import { definitionOf } from "./group-ops.js";
import { groupPeerCall, recoveryGroup, scriptHooks } from "./recovery-group.js";
import { becomeProtectedSite, LINK_EXPECTED_MS } from "./reverse.js";

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

/** A failover test running longer than this raises an alert: tests hold journal history and overlays grow. */
export const TEST_TOO_LONG_MS = 4 * 3_600_000;

type Activity =
  | { kind: "test"; test: FailoverTest | undefined; busy: string | undefined }
  | { kind: "failover"; failover: LiveFailover | undefined; busy: string | undefined; startedAtMs: number }
  /** Committed: the recovered VMs write to the replica through these devices until protection is reversed. */
  | { kind: "committed"; devices: Map<string, SwitchDevice>; busy: string | undefined };

/** Whether a failover holds the protected site quiesced (and must let it go if the failover does not stay). */
interface SourceHold {
  quiesced: boolean;
}

export class Recovery {
  readonly #ctx: SiteContext;
  readonly #active = new Map<string, Activity>();

  constructor(ctx: SiteContext) {
    this.#ctx = ctx;
    ctx.appliance.onEvent((e) => {
      if (e.kind === "pin-revoked" && e.pinKind === "test") void this.#stopForLimit(e.group, e.reason);
    });
  }

  /** The journal took the test's pin back at its limit: stop the test, so its views release the history too. */
  async #stopForLimit(name: string, reason: string): Promise<void> {
    const a = this.#active.get(name);
    if (a?.kind !== "test" || !a.test || a.busy) return;
    try {
      await this.stopTest(name, "unknown", `stopped by Lifeline: ${reason}`, "lifeline (journal limit)");
    } catch (err) {
      this.#ctx.log.error({ err, group: name }, "the failover test could not be stopped at the journal's limit");
    }
  }

  /** Raises (and, once the test ends, clears) an alert for each test running longer than `limitMs`. */
  checkLongTests(nowMs = Date.now(), limitMs = TEST_TOO_LONG_MS): void {
    const events = this.#ctx.manager.events;
    for (const g of this.#ctx.manager.groups.list()) {
      const a = this.#active.get(g.name);
      const test = a?.kind === "test" ? a.test : undefined;
      if (test && nowMs - test.startedAtMs > limitMs) {
        events.raise("test-too-long", g.name, "warning", `group ${g.name}: a failover test has run for ${Math.round((nowMs - test.startedAtMs) / 60_000)} min (started by ${test.by}); stop it with lifeline test stop ${g.name}`, g.name);
      } else if (!test) {
        events.clear("test-too-long", g.name, `group ${g.name}: the long failover test ended`, g.name);
      }
    }
  }

  startTest(name: string, pointText: string | undefined, by: string): Promise<TaskRecord> {
    const { group, access } = this.#recoverable(name);
    this.#claim(name, { kind: "test", test: undefined, busy: "starting a failover test" });
    return this.#run(name, async (store) => {
      const point = this.#resolve(access, pointText, name);
      const test = new FailoverTest(this.#recoveryGroup(group, access), point, by);
      const task = await test.start(store, this.#hooks(group, "test-start", point, "test/"));
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
    const exports = test.exportNames;
    a.busy = "stopping its failover test";
    return this.#run(name, async (store) => {
      const { task, report } = await test.stop(store, result, notes, this.#hooks(this.#ctx.manager.groups.get(name), "test-stop", test.point, "test/"));
      if (task.state !== "succeeded") {
        // The test still holds what the failed step did not let go (a pin, overlays, VMs): it stays the group's
        // test, so that stopping it again (each step tolerates having run) finishes the job; no report yet.
        a.busy = undefined;
        this.#ctx.manager.events.add({ severity: "warning", kind: "test-stop-failed", group: name, message: `failover test of ${name} could not be stopped: ${task.error ?? "see task " + task.id}; stop it again` });
        return task;
      }
      this.#active.delete(name);
      const reportId = this.#report({ kind: "test", group: name, by: report.by, point: report.point, startedAtMs: report.startedAtMs, endedAtMs: report.stoppedAtMs, result, notes, vms: report.vms, exports });
      this.#tagTested(name, report.point, report.stoppedAtMs, by, reportId);
      this.#ctx.manager.events.add({ severity: "info", kind: "test-stopped", group: name, message: `failover test of ${name} stopped by ${by}: ${result}` });
      return task;
    });
  }

  failover(name: string, pointText: string | undefined, by: string, options: { shutdownSource?: boolean } = {}): Promise<TaskRecord> {
    const { group } = this.#recoverable(name);
    this.#claim(name, { kind: "failover", failover: undefined, busy: "failing over", startedAtMs: Date.now() });
    return this.#run(name, async (store) => {
      if (!options.shutdownSource) return this.#failoverTask(name, pointText, by, store);
      // The protected site, if it answers, holds its writes and sends the last ones; else fail over all the same.
      const final = await this.#peerCall<Checkpoint>(group.protectedSite, name, "quiesce", { tag: `failover-${new Date().toISOString()}` }).catch((err: unknown) => {
        this.#ctx.manager.events.add({ severity: "warning", kind: "source-not-shut-down", group: name, message: `group ${name}: the protected site ${group.protectedSite} did not quiesce (${(err as Error).message}); failing over without it` });
        return undefined;
      });
      const point = final && (pointText === undefined || pointText === "latest") ? final.id : pointText;
      const source: SourceHold = { quiesced: final !== undefined };
      // A failover that does not happen (its point does not resolve, a step fails) lets the protected site's writes go on.
      const task = await this.#failoverTask(name, point, by, store, { source }).catch(async (err: unknown) => {
        await this.#releaseSource(group, source);
        throw err;
      });
      if (task.state !== "succeeded") await this.#releaseSource(group, source);
      return task;
    });
  }

  /** Unquiesces the protected site if this failover still holds it quiesced (once: a rollback may have done it). */
  async #releaseSource(group: Group, source: SourceHold): Promise<void> {
    if (!source.quiesced) return;
    await this.#peerCallRetrying(group.protectedSite, group.name, "unquiesce", {});
    source.quiesced = false;
  }

  /** How a failover stops and resumes the group's replication here (and lets the protected site's held writes go on). */
  #control(group: Group, access: RecoveryAccess, reason: string, source: SourceHold): ReplicationControl {
    const groups = this.#ctx.manager.groups;
    return {
      stop: async () => {
        groups.setFailover(group.name, "uncommitted");
        await access.stopReplication(reason);
      },
      resume: async () => {
        access.resumeReplication();
        groups.setFailover(group.name, "none");
        await this.#releaseSource(group, source);
      },
    };
  }

  /** For idempotent calls (reverse, unquiesce): a site that does not answer is asked again until LINK_EXPECTED_MS. */
  async #peerCallRetrying<T>(site: string, group: string, op: string, body: unknown): Promise<T> {
    const deadlineMs = Date.now() + LINK_EXPECTED_MS;
    for (;;) {
      try {
        return await this.#peerCall<T>(site, group, op, body);
      } catch (err) {
        if ((err as { code?: string }).code !== "peer_unreachable" || Date.now() > deadlineMs) throw err;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  #peerCall<T>(site: string, group: string, op: string, body: unknown): Promise<T> {
    return groupPeerCall<T>(this.#ctx, site, group, op, body);
  }

  async #failoverTask(name: string, pointText: string | undefined, by: string, store: TaskStore, o: { source?: SourceHold } = {}): Promise<TaskRecord> {
    const { group, access } = this.#recoverable(name);
    const point = this.#resolve(access, pointText, name);
    const failover = new LiveFailover(this.#recoveryGroup(group, access), point, by, this.#control(group, access, `failed over to ${point.label} by ${by}`, o.source ?? { quiesced: false }));
    const task = await failover.start(store, { hooks: this.#hooks(group, "failover", point, "") });
    if (task.state === "succeeded") {
      this.#active.set(name, { kind: "failover", failover, busy: undefined, startedAtMs: Date.now() });
      this.#ctx.manager.events.add({ severity: "warning", kind: "failed-over", group: name, message: `group ${name} failed over to ${point.label} by ${by}: commit or roll back` });
    } else this.#active.delete(name);
    return task;
  }

  /** `hooks: false` when a restart finishes a commit: its before script ran when it began. */
  async #commit(name: string, a: Activity & { kind: "failover" }, failover: LiveFailover, by: string, store: TaskStore, o: { hooks?: boolean } = {}): Promise<TaskRecord> {
    const task = await failover.commit(store, o.hooks === false ? undefined : this.#hooks(this.#ctx.manager.groups.get(name), "commit", failover.point, ""));
    a.busy = undefined;
    if (task.state === "succeeded") {
      this.#ctx.manager.groups.setFailover(name, "committed");
      this.#active.set(name, { kind: "committed", devices: new Map(failover.disks.map((d) => [d.exportName, d.device])), busy: undefined });
      this.#failoverReport(failover, a.startedAtMs, "committed");
      this.#ctx.manager.events.add({ severity: "info", kind: "failover-committed", group: name, message: `failover of ${name} to ${failover.point.label} committed by ${by}` });
    }
    return task;
  }

  async #reverse(name: string, by: string, store: TaskStore): Promise<TaskRecord> {
    const a = this.#active.get(name);
    if (a?.kind !== "committed") throw new ConflictError("not_committed", `group "${name}" has no committed failover here`);
    a.busy = "reversing protection";
    const g = this.#ctx.manager.groups.get(name);
    const old = g.protectedSite;
    const steps = [
      {
        name: `make ${old} the recovery site (its disks become the replica)`,
        run: async () => {
          const def = definitionOf({ ...g, protectedSite: this.#ctx.name, recoverySite: old });
          // Idempotent there, so asked again while the old site restarts (it may have died in the middle of a move).
          await this.#peerCallRetrying(old, name, "reverse", def);
        },
      },
      {
        name: "make the recovered disks production here and replicate them (delta sync)",
        run: async () => {
          await becomeProtectedSite(this.#ctx, g, a.devices);
          return `${a.devices.size} disks protected towards ${old}`;
        },
      },
    ];
    const task = await runTask(newTask("reverse-protect", name, by, steps.map((s) => s.name)), steps, store);
    if (task.state === "succeeded") {
      this.#active.delete(name);
      this.#ctx.manager.events.add({ severity: "info", kind: "reverse-protected", group: name, message: `group ${name} is protected from ${this.#ctx.name} to ${old} now (by ${by})` });
    } else a.busy = undefined;
    return task;
  }

  commit(name: string, by: string, options: { reverseProtect?: boolean } = {}): Promise<TaskRecord> {
    const { a, failover } = this.#failedOver(name, "commit");
    a.busy = "committing its failover";
    return this.#run(name, async (store) => {
      const task = await this.#commit(name, a, failover, by, store);
      return task.state === "succeeded" && options.reverseProtect ? this.#reverse(name, by, store) : task;
    });
  }

  /** After a commit: the recovered disks become production here and the old site keeps the journal. */
  reverseProtect(name: string, by: string): Promise<TaskRecord> {
    const a = this.#active.get(name);
    if (a?.kind !== "committed") throw new ConflictError("not_committed", `group "${name}" has no committed failover here to protect back`, "fail over and commit first");
    if (a.busy) throw new ConflictError("operation_running", `group "${name}" is busy: ${a.busy}`, "wait for it to end (lifeline tasks)");
    a.busy = "reversing protection";
    return this.#run(name, (store) => this.#reverse(name, by, store));
  }

  /**
   * A planned move, nothing lost: the protected site's writes wait, every
   * write reaches this site, a final checkpoint; fail over to it, commit, and
   * (unless told not to) protect back the other way.
   */
  move(name: string, by: string, options: { reverseProtect?: boolean } = {}): Promise<TaskRecord> {
    const { group } = this.#recoverable(name);
    const call = <T>(op: string, body: unknown) => this.#peerCall<T>(group.protectedSite, name, op, body);
    this.#claim(name, { kind: "failover", failover: undefined, busy: "moving", startedAtMs: Date.now() });
    return this.#run(name, async (store) => {
      let final: Checkpoint | undefined;
      let ran: TaskRecord | undefined;
      const sub = async (t: Promise<TaskRecord>, what: string): Promise<string> => {
        ran = await t;
        if (ran.state !== "succeeded") throw new Error(`${what} ended ${ran.state}: ${ran.error ?? "see task " + ran.id}`);
        return `task ${ran.id}`;
      };
      const tag = `move-${new Date().toISOString()}`;
      const steps = [
        {
          name: `quiesce ${group.protectedSite} and take the final checkpoint`,
          run: async () => {
            final = await call<Checkpoint>("quiesce", { tag });
            return `checkpoint ${final.id} at seq ${final.seq}: every write of ${group.protectedSite} is here`;
          },
          // Never once committed here: the protected site's writes must not go on beside the recovered VMs.
          undo: async () => {
            if (this.#ctx.manager.groups.get(name).failover === "none") await this.#peerCallRetrying(group.protectedSite, name, "unquiesce", {});
          },
        },
        {
          name: "fail over to the final checkpoint",
          run: () => sub(this.#failoverTask(name, `tag:${tag}`, by, store), "the failover"),
          undo: async () => {
            const a = this.#active.get(name);
            if (a?.kind === "failover" && a.failover) await a.failover.rollback(store);
          },
        },
        {
          name: "commit",
          run: () => {
            const a = this.#active.get(name);
            if (a?.kind !== "failover" || !a.failover) throw new Error("the failover is not running");
            return sub(this.#commit(name, a, a.failover, by, store), "the commit");
          },
        },
        ...(options.reverseProtect === false ? [] : [{ name: `protect back to ${group.protectedSite}`, run: () => sub(this.#reverse(name, by, store), "reverse protection") }]),
      ];
      const task = newTask("move", name, by, steps.map((s) => s.name));
      const done = await runTask(task, steps, store);
      if (done.state !== "succeeded" && this.#active.get(name)?.busy === "moving") this.#active.delete(name);
      return done;
    });
  }

  rollback(name: string, by: string): Promise<TaskRecord> {
    const { a, failover } = this.#failedOver(name, "roll back");
    if (failover.group.journal.commitState?.seq === failover.point.seq) {
      // Folding may have changed the replica already: the only clean end is the commit's.
      throw new ConflictError("commit_begun", `group "${name}": a commit of its failover was begun and cannot be rolled back`, "finish it with: lifeline commit");
    }
    a.busy = "rolling back its failover";
    return this.#run(name, async (store) => {
      const task = await failover.rollback(store, this.#hooks(this.#ctx.manager.groups.get(name), "rollback", failover.point, ""));
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
  restore(name: string, vmDisk: string, pointText: string | undefined, out: string | undefined, by: string): Promise<TaskRecord> {
    const { group, access } = this.#recoverable(name, { allowFailedOver: true });
    const [vm, disk] = vmDisk.split("/");
    if (!group.vms.some((v) => v.name === vm && v.disks.some((d) => d.name === disk))) {
      throw new NotFoundError("disk", `${name}/${vmDisk}`, `list the group's disks with: lifeline status ${name}`);
    }
    const point = this.#resolve(access, pointText, name);
    const outPath = out ?? path.join(this.#ctx.layout.dir, "restores", `${name}-${vm}-${disk}-seq${point.seq}.raw`);
    if (!path.isAbsolute(outPath)) throw new UnprocessableError("invalid_path", `the output path must be absolute, not "${outPath}"`, "the file is written by the site daemon");
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
    }, () => {});
  }

  /**
   * After a restart: an interrupted test is rolled back, an interrupted
   * failover served again, a begun commit finished (never rolled back: the
   * replica may have changed already), a committed failover served from the
   * replica. Operations that change direction go forward once committed: an
   * interrupted move or reverse protection is run again from its reverse
   * protection (both sites' steps are idempotent), and a move cut short
   * before its commit is rolled back (the protected site's writes go on).
   * Each task left running is then closed with what became of it.
   */
  async resume(): Promise<void> {
    const { manager, log } = this.#ctx;
    const interrupted = manager.tasks.running() as TaskRecord[];
    const resumed = new Set<TaskRecord>();
    const store: TaskStore = { save: (t) => manager.tasks.save(t) };
    for (const g of manager.groups.list()) {
      if (g.recoverySite !== this.#ctx.name) continue;
      const access = this.#ctx.appliance.recovery?.(g.name);
      if (!access) continue;
      const mine = interrupted.filter((t) => t.group === g.name);
      const move = mine.find((t) => t.kind === "move");
      try {
        // A move cut short quiesced the protected site: undone below unless it got to its commit.
        const control = this.#control(g, access, "failed over (resumed after a restart)", { quiesced: move !== undefined });
        const r = await recoverAfterRestart(this.#recoveryGroup(g, access), control);
        if (r.failoverResumed) {
          await access.stopReplication(`failed over to ${r.failoverResumed.point.label} (resumed after a restart)`);
          manager.groups.setFailover(g.name, "uncommitted");
          const a = { kind: "failover" as const, failover: r.failoverResumed, busy: undefined, startedAtMs: Date.now() };
          this.#active.set(g.name, a);
          if (r.commitInterrupted) {
            const task = await this.#commit(g.name, a, r.failoverResumed, "restart (finishing an interrupted commit)", store, { hooks: false });
            if (task.state !== "succeeded") throw new Error(`the interrupted commit could not be finished: ${task.error ?? task.id}`);
          } else if (move) {
            await r.failoverResumed.rollback(store);
            this.#active.delete(g.name);
          }
        } else if (r.committed || g.failover === "committed") {
          manager.groups.setFailover(g.name, "committed");
          await access.stopReplication("the failover was committed; protect the group back with reverse protection");
          this.#serveCommitted(g, access);
        } else {
          if (g.failover === "uncommitted") manager.groups.setFailover(g.name, "none");
          if (move) await this.#peerCallRetrying(g.protectedSite, g.name, "unquiesce", {});
        }
        if (r.testsRolledBack > 0) manager.events.add({ severity: "warning", kind: "test-rolled-back", group: g.name, message: `a failover test of ${g.name} was cut short by a restart and rolled back` });
      } catch (err) {
        log.error({ err, group: g.name }, "recovery state could not be restored after the restart");
        manager.events.raise("recovery-resume-failed", g.name, "critical", `group ${g.name}: recovery state could not be restored: ${(err as Error).message}`, g.name);
      }
      // Committed now: a move (unless told not to protect back) or a reverse protection that was under way goes on.
      const reversing = mine.find((t) => t.kind === "reverse-protect" || (t.kind === "move" && t.steps.some((s) => s.name.startsWith("protect back to"))));
      if (this.#active.get(g.name)?.kind === "committed" && reversing) {
        resumed.add(reversing);
        void this.#resumeReverse(g.name, reversing, store);
      }
    }
    for (const t of interrupted) {
      if (resumed.has(t)) continue;
      const g = manager.groups.list().find((x) => x.name === t.group);
      const a = this.#active.get(t.group);
      const committed = a?.kind === "committed";
      const served = a?.kind === "failover";
      // A reverse protection that the site's start finished (site/reverse.ts) leaves the group protected from here.
      const reversedHere = g?.protectedSite === this.#ctx.name && (t.kind === "move" || t.kind === "reverse-protect");
      t.state = reversedHere ? "succeeded" : served || (committed && t.kind === "move") ? "failed" : "rolled-back";
      t.error = reversedHere
        ? undefined
        : served
          ? "interrupted by a restart: the recovered disks are served again from the pinned point; commit or roll back"
          : committed && t.kind === "move"
            ? "interrupted by a restart after its commit: the group runs here; protect it back with lifeline reverse-protect"
            : committed && t.kind === "commit"
              ? undefined
              : "interrupted by a restart: rolled back";
      if (committed && t.kind === "commit") t.state = "succeeded";
      for (const s of t.steps) if (s.state === "running") s.detail = `${s.detail ? s.detail + "; " : ""}interrupted by a restart`;
      t.endedAtMs = Date.now();
      manager.tasks.save(t);
    }
  }

  /**
   * Runs reverse protection again for `task` (a move or reverse protection
   * that a restart cut short after its commit), and closes the task with
   * how it went. Not awaited by `resume`: the old site may take a moment to
   * answer, and the daemon serves meanwhile.
   */
  async #resumeReverse(name: string, task: TaskRecord, store: TaskStore): Promise<void> {
    const a = this.#active.get(name);
    if (a?.kind !== "committed") return;
    a.busy = "reversing protection (resumed after a restart)";
    try {
      const done = await this.#reverse(name, `${task.by} (resumed after a restart)`, store);
      task.state = done.state === "succeeded" ? "succeeded" : "failed";
      task.error = done.state === "succeeded" ? undefined : `interrupted by a restart after its commit; reverse protection resumed as task ${done.id} and ended ${done.state}: ${done.error ?? ""}; the group runs here, protect it back with lifeline reverse-protect`;
      for (const s of task.steps) if (task.state === "succeeded" || s.state === "running") s.state = task.state === "succeeded" ? "done" : "failed";
      const last = task.steps[task.steps.length - 1];
      if (last) last.detail = `resumed after a restart as task ${done.id}`;
    } catch (err) {
      task.state = "failed";
      task.error = `interrupted by a restart after its commit; resuming reverse protection failed: ${(err as Error).message}`;
    }
    task.endedAtMs = Date.now();
    store.save(task);
  }

  /** A committed failover's disks are the replica files now: served read-write, as the recovered VMs use them. */
  #serveCommitted(g: Group, access: RecoveryAccess): void {
    const devices = new Map<string, SwitchDevice>();
    for (const v of g.vms) {
      for (const d of v.disks) {
        const name = `${g.name}/${v.name}/${d.name}`;
        const device = new SwitchDevice(access.journal.replica(access.journal.disk(`${v.name}/${d.name}`).id));
        access.exports.add({ name, description: `${g.name} recovered here (committed)`, device });
        devices.set(name, device);
      }
    }
    this.#active.set(g.name, { kind: "committed", devices, busy: undefined });
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

  /** Frees a slot that an operation claimed but could not start (its point did not resolve, …). */
  #unclaim(name: string): void {
    const a = this.#active.get(name);
    if (a && a.kind !== "committed" && a.busy && (a.kind === "test" ? !a.test : !a.failover)) this.#active.delete(name);
    else if (a) a.busy = undefined;
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

  #resolve(access: RecoveryAccess, text: string | undefined, group: string): ResolvedPoint {
    try {
      return resolvePoint(access.journal, parsePoint(text), Date.now(), (tag) => this.#ctx.manager.checkpointTags.find(group, tag));
    } catch (err) {
      if (err instanceof PointNotFoundError) throw new UnprocessableError("point_not_found", err.message, (err as { hint?: string }).hint);
      throw err;
    }
  }

  /** Starts `op`, resolving with its task as soon as it is first saved (or with its error). */
  #run(name: string, op: (store: TaskStore) => Promise<TaskRecord>, onError: () => void = () => this.#unclaim(name)): Promise<TaskRecord> {
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
      onError();
      this.#ctx.log.error({ err, group: name }, "recovery operation failed");
    });
    return Promise.race([first, done]);
  }

  #recoveryGroup(g: Group, access: RecoveryAccess): RecoveryGroup {
    return recoveryGroup(this.#ctx, g, access);
  }

  #hooks(g: Group, operation: string, point: ResolvedPoint, prefix: string): StepHooks {
    return scriptHooks(this.#ctx, g, operation, point, prefix);
  }

  #failoverReport(f: LiveFailover, startedAtMs: number, result: string): void {
    const vms = f.group.vms.map((v) => v.name);
    this.#report({ kind: "failover", group: f.group.name, by: f.by, point: f.point, startedAtMs, endedAtMs: Date.now(), result, notes: "", vms, exports: f.disks.map((d) => d.exportName) });
  }

  #report(r: Omit<Report, "id" | "timeMs" | "durationMs">): string {
    return this.#ctx.manager.reports.add({ ...r, id: randomId(r.kind), timeMs: r.endedAtMs, durationMs: r.endedAtMs - r.startedAtMs }).id;
  }

  /** The tested point is tagged "tested at <ISO time of the stop>", whatever the result: the report says how it went. */
  #tagTested(group: string, point: ResolvedPoint, stoppedAtMs: number, by: string, reportId: string): void {
    const tag = `tested at ${new Date(stoppedAtMs).toISOString()}`;
    this.#ctx.manager.checkpointTags.add({ group, seq: point.seq, checkpointId: point.checkpointId, tag, timeMs: stoppedAtMs, by, reportId });
  }
}

