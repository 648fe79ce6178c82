/**
 * The torture's faults, each injected, held for a seeded while, and healed.
 * Whatever a fault can check on the spot it checks here (a recovered or test
 * disk judged as the point it was opened at, production after a crash); the
 * run's checks after every fault are in torture.ts.
 */
import { RawClient } from "../nbd/client.js";
import type { CheckpointView } from "./sites.js";
import type { TortureRun } from "./torture.js";
import { pointTaken, TortureFailure } from "./torture.js";
import { sleep } from "./writer.js";

export const FAULT_KINDS = [
  "kill-protected",
  "kill-recovery",
  "kill-both",
  "link-cut",
  "link-stall",
  "link-latency",
  "link-cap",
  "link-reset",
  "journal-full",
  "net-down",
  "net-cap",
  "burst",
  "failover-test",
  "failover-rollback",
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** Link faults that can run beside a failover test. */
const BESIDE_TEST = ["link-cut", "link-stall", "link-latency", "burst"] as const;

export async function injectFault(run: TortureRun, kind: FaultKind, what: string): Promise<void> {
  const { sites, random } = run;
  const holdMs = (lo: number, hi: number) => Math.round(random.between(lo, hi) * 1000);
  switch (kind) {
    case "kill-protected":
      await killProtected(run, holdMs(0.2, 3));
      await run.checkProduction(`after ${what}`);
      return;
    case "kill-recovery":
      await sites.b.stop("SIGKILL");
      await sleep(holdMs(0.2, 3));
      await sites.b.start();
      return;
    case "kill-both": {
      run.fio.protectedSiteKilled();
      await Promise.all([sites.a.stop("SIGKILL"), sites.b.stop("SIGKILL")]);
      await sleep(holdMs(0.2, 3));
      const order = random.next() < 0.5 ? [sites.a, sites.b] : [sites.b, sites.a];
      for (const site of order) await site.start();
      run.fio.protectedSiteBack();
      await run.checkProduction(`after ${what}`);
      return;
    }
    case "journal-full":
      await journalFull(run, holdMs(1, 5), what);
      return;
    case "failover-test":
      await failoverTest(run, what);
      return;
    case "failover-rollback":
      await failoverRollback(run, what);
      return;
    default: {
      const heal = startLinkFault(run, kind);
      await sleep(kind === "link-cap" || kind === "net-cap" ? holdMs(5, 10) : holdMs(1, 6));
      heal();
    }
  }
}

async function killProtected(run: TortureRun, downMs: number): Promise<void> {
  run.fio.protectedSiteKilled();
  await run.sites.a.stop("SIGKILL");
  await sleep(downMs);
  await run.sites.a.start();
  run.fio.protectedSiteBack();
}

/** Starts a fault of the link (or of the workload's rate); returns what heals it. */
function startLinkFault(run: TortureRun, kind: FaultKind): () => void {
  const { proxy } = run.sites;
  const writer = run.writer;
  switch (kind) {
    case "link-cut":
      proxy.refuse(true);
      return () => proxy.refuse(false);
    case "link-stall":
      proxy.stall(true);
      return () => proxy.stall(false);
    case "link-latency":
      proxy.delay(Math.round(run.random.between(50, 400)));
      return () => proxy.delay(0);
    case "link-cap":
      // Below the workloads' ~4 MiB/s, so the 4 MiB stream overflows into a bitmap sync.
      proxy.bandwidth(256 * 1024);
      return () => proxy.bandwidth(undefined);
    case "link-reset":
      proxy.closeMidFrame(1 + run.random.int(512 * 1024));
      proxy.cut();
      return () => undefined;
    case "net-down":
      run.sites.link!.down(true);
      return () => run.sites.link!.down(false);
    case "net-cap":
      run.sites.link!.cap(256 * 1024);
      return () => run.sites.link!.cap(undefined);
    case "burst": {
      // The writer as fast as it goes, over a link capped below that.
      const rate = writer.rateBytesPerSec;
      writer.rateBytesPerSec = undefined;
      proxy.bandwidth(2 * 1024 * 1024);
      return () => {
        writer.rateBytesPerSec = rate;
        proxy.bandwidth(undefined);
      };
    }
    default:
      throw new Error(`${kind} is not a link fault`);
  }
}

/**
 * Starts a test or a failover at a random recent consistent point. When the
 * journal at its limit takes the point from under it (history shrinks at the
 * old end), the newest point is taken instead.
 */
async function startAtPoint(run: TortureRun, op: "test" | "failover"): Promise<CheckpointView> {
  const cp = run.random.pick((await run.points()).slice(-10));
  try {
    await run.recover(op, { point: cp.id });
    return cp;
  } catch (err) {
    if (!pointTaken(err)) throw err;
    const newest = (await run.points()).at(-1)!;
    if (newest.seq <= cp.seq) throw err;
    await run.recover(op, { point: newest.id });
    return newest;
  }
}

/**
 * The recovery site's data file system filled to the last byte: the journal
 * must pause the group with a storage-full alert (seen within 15 s), lose
 * nothing, and resume by itself once space returns.
 */
async function journalFull(run: TortureRun, holdMs: number, what: string): Promise<void> {
  const ballast = run.sites.fill();
  try {
    const t0 = Date.now();
    for (;;) {
      const alerts = await run.sites.api<{ kind: string }[]>(run.sites.b, "GET", "/alerts");
      if (alerts.some((a) => a.kind === "storage-full")) break;
      if (Date.now() - t0 > 15_000) throw new TortureFailure(`${what}: the recovery site raised no storage-full alert within 15 s of its file system filling up`);
      await sleep(200);
    }
    run.summary.storageFullAlerts++;
    await sleep(holdMs);
  } finally {
    ballast.release();
  }
}

/**
 * A failover test at a random consistent point, maybe beside a link fault:
 * its disks are that point exactly, a write to them stays in the test (the
 * checks after the round would find it in a point or production), and the
 * test stops cleanly.
 */
async function failoverTest(run: TortureRun, what: string): Promise<void> {
  const beside = run.random.next() < 0.5 ? run.random.pick(BESIDE_TEST) : undefined;
  const heal = beside ? startLinkFault(run, beside) : () => undefined;
  const startedMs = Date.now();
  try {
    const cp = await startAtPoint(run, "test");
    const at = run.nbdB();
    if (at === undefined) throw new TortureFailure(`${what}: the recovery site is not running`);
    try {
      await run.judgeServed(at, "test/", cp, `${what}${beside ? ` beside ${beside}` : ""}: test disks`);
      const disk = run.sites.disks[run.random.int(run.sites.disks.length)]!;
      const { client } = await RawClient.session(at.port, `test/${disk.name}`, { host: at.host });
      try {
        await client.writeBytes(4096 * run.random.int(disk.sizeBytes / 4096), Buffer.alloc(4096, 0xa5));
      } finally {
        client.close();
      }
    } catch (err) {
      // The journal at its limit takes a test's pin back and stops the test (a test never holds
      // replication back): its disks go away under it. That, said by the recovery site, is no fault.
      if (await stoppedByLimit(run, startedMs)) {
        run.summary.testsStoppedByLimit++;
        return;
      }
      throw err;
    }
    await sleep(Math.round(run.random.between(0.5, 3) * 1000));
    if (await stoppedByLimit(run, startedMs)) {
      run.summary.testsStoppedByLimit++;
      return;
    }
    await run.recover("test/stop", { result: "pass", notes: `torture ${what}` });
  } finally {
    heal();
  }
}

/** Whether the recovery site stopped a test since `sinceMs` because its journal reached its limit. */
async function stoppedByLimit(run: TortureRun, sinceMs: number): Promise<boolean> {
  const events = await run.sites.api<{ kind: string }[]>(run.sites.b, "GET", `/events?since=${sinceMs}`);
  return events.some((e) => e.kind === "test-stopped-by-limit");
}

/** A live failover to a random consistent point: the served disks are that point exactly; then rollback. */
async function failoverRollback(run: TortureRun, what: string): Promise<void> {
  const cp = await startAtPoint(run, "failover");
  const at = run.nbdB();
  if (at === undefined) throw new TortureFailure(`${what}: the recovery site is not running`);
  await run.judgeServed(at, "", cp, `${what}: failed-over disks`);
  await sleep(Math.round(run.random.between(0.5, 3) * 1000));
  await run.recover("rollback");
}
