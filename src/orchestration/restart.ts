/**
 * What a restart does with recovery operations that a crash (or SIGKILL of
 * the site daemon) cut short, so that none is left half done:
 *
 * - a failover test is rolled back: its pin and overlays go (a test's writes
 *   are meant to be thrown away; its VMs died with their disks' server);
 * - a live failover is resumed: its pin names the point and its overlays,
 *   whose allocation maps are persisted, still hold what the VMs wrote, so the
 *   disks are served again as they were (the VMs must be started again);
 * - a commit is finished: the journal persists its phase, and committing the
 *   same point again completes it.
 */
import fs from "node:fs";
import path from "node:path";
import type { Journal } from "../journal/index.js";
import { LiveFailover, type ReplicationControl } from "./live-failover.js";
import type { RecoveryGroup } from "./recovery-group.js";

export interface RestartReport {
  testsRolledBack: number;
  failoverResumed: LiveFailover | undefined;
}

export async function recoverAfterRestart(group: RecoveryGroup, control: ReplicationControl, by = "restart"): Promise<RestartReport> {
  const journal: Journal = group.journal;
  let testsRolledBack = 0;
  for (const pin of journal.pins.filter((p) => p.kind === "test")) {
    await journal.unpin(pin.id);
    testsRolledBack++;
  }
  fs.rmSync(path.join(group.workDir, "test-overlays"), { recursive: true, force: true });

  const failoverPin = journal.pins.find((p) => p.kind === "failover");
  if (!failoverPin) return { testsRolledBack, failoverResumed: undefined };
  const point = { seq: failoverPin.seq, timeMs: journal.timeOf(failoverPin.seq), label: `seq ${failoverPin.seq}`, checkpointId: undefined };
  const failover = new LiveFailover(group, point, by, control);
  await failover.reopen(failoverPin.id);
  return { testsRolledBack, failoverResumed: failover };
}
