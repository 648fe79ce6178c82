/**
 * What a restart does with recovery operations that a crash (or SIGKILL of
 * the site daemon) cut short, so that none is left half done:
 *
 * - a failover test is rolled back: its pin and overlays go (a test's writes
 *   are meant to be thrown away; its VMs died with their disks' server);
 * - a live failover is resumed: its pin names the point and its overlays,
 *   whose allocation maps are persisted, still hold what the VMs wrote, so the
 *   disks are served again as they were (the VMs must be started again);
 * - a commit, once the journal recorded it as begun, is finished, never
 *   rolled back: folding may have changed the replica already. Before its
 *   overlays are copied the failover is reopened and committed again (the
 *   journal resumes at its persisted phase); once they are, only the pin and
 *   the overlays are left to drop.
 */
import fs from "node:fs";
import path from "node:path";
import type { Journal } from "../journal/index.js";
import { LiveFailover, type ReplicationControl } from "./live-failover.js";
import type { RecoveryGroup } from "./recovery-group.js";

export interface RestartReport {
  testsRolledBack: number;
  failoverResumed: LiveFailover | undefined;
  /** The resumed failover was being committed: commit it again (`failoverResumed.commit`) to finish. */
  commitInterrupted: boolean;
  /** The journal holds a finished commit: the group is committed here, whatever else was recorded. */
  committed: boolean;
}

export async function recoverAfterRestart(group: RecoveryGroup, control: ReplicationControl, by = "restart"): Promise<RestartReport> {
  const journal: Journal = group.journal;
  let testsRolledBack = 0;
  for (const pin of journal.pins.filter((p) => p.kind === "test")) {
    await journal.unpin(pin.id);
    testsRolledBack++;
  }
  fs.rmSync(path.join(group.workDir, "test-overlays"), { recursive: true, force: true });

  const commit = journal.commitState;
  const failoverPin = journal.pins.find((p) => p.kind === "failover");
  const none = { testsRolledBack, failoverResumed: undefined, commitInterrupted: false };
  if (!failoverPin) return { ...none, committed: commit?.phase === "done" };
  if (commit?.seq === failoverPin.seq && commit.phase === "done") {
    // Every overlay is in the replica: finish the journal's last phase (idempotent), then drop what the failover held.
    await journal.commit(commit.seq, new Map());
    fs.rmSync(path.join(group.workDir, "failover-overlays"), { recursive: true, force: true });
    await journal.unpin(failoverPin.id);
    return { ...none, committed: true };
  }
  const point = { seq: failoverPin.seq, timeMs: journal.timeOf(failoverPin.seq), label: `seq ${failoverPin.seq}`, checkpointId: undefined };
  const failover = new LiveFailover(group, point, by, control);
  await failover.reopen(failoverPin.id);
  return { testsRolledBack, failoverResumed: failover, commitInterrupted: commit?.seq === failoverPin.seq, committed: false };
}
