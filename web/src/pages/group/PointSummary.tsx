/** What the picked point would recover: the point, the checkpoint it lands on, and what is lost after it. */
import type { Checkpoint, GroupStatus } from "../../api/types";
import { Notice } from "../../components/ui";
import { clock, dateTime, duration } from "../../lib/format";
import { consistentAtOrBefore, pickTime, pointText, type Pick } from "../../lib/timeline";

export function describePick(p: Pick, nowMs: number): string {
  switch (p.kind) {
    case "latest":
      return "the latest consistent point";
    case "checkpoint":
      return p.checkpoint.tag ? `checkpoint tagged "${p.checkpoint.tag}" (${clock(p.checkpoint.time)})` : `checkpoint ${p.checkpoint.id} (${clock(p.checkpoint.time)})`;
    case "time":
      return `${clock(p.atMs)}, ${duration(nowMs - p.atMs)} ago`;
  }
}

export function PointSummary(props: { g: GroupStatus; pick: Pick; checkpoints: readonly Checkpoint[]; nowMs: number }) {
  const { g, pick, checkpoints, nowMs } = props;
  const t = pickTime(pick, nowMs);
  const cp = pick.kind === "checkpoint" ? pick.checkpoint : consistentAtOrBefore(checkpoints, t);
  const disks = g.vms.reduce((n, v) => n + v.disks.length, 0);
  return (
    <div className="point-summary" data-testid="point-summary" aria-live="polite">
      <dl className="facts">
        <div>
          <dt>Point</dt>
          <dd>
            <strong>{describePick(pick, nowMs)}</strong>
          </dd>
        </div>
        <div>
          <dt>Exact time</dt>
          <dd>{pick.kind === "latest" ? "newest point the recovery site holds" : `${dateTime(t)}.${String(Math.round(t) % 1000).padStart(3, "0")}`}</dd>
        </div>
        <div>
          <dt>Consistent checkpoint at or before</dt>
          <dd>{cp ? `${cp.id} · seq ${cp.seq} · ${clock(cp.time)}${cp.tag ? ` · "${cp.tag}"` : ""}` : "none in the window"}</dd>
        </div>
        <div>
          <dt>Would recover</dt>
          <dd>
            {g.vms.length} VM{g.vms.length === 1 ? "" : "s"} ({g.vms.map((v) => v.name).join(", ") || "none"}), {disks} disk{disks === 1 ? "" : "s"}
          </dd>
        </div>
        <div>
          <dt>Writes after it</dt>
          <dd>{pick.kind === "latest" ? `none held at the recovery site are dropped (RPO now ${duration(g.rpoMs)})` : `the last ${duration(nowMs - t)} of writes are not in the recovered disks`}</dd>
        </div>
        <div>
          <dt>Sent to the site as</dt>
          <dd>
            <code>{pointText(pick)}</code>
          </dd>
        </div>
      </dl>
      {cp && !cp.consistent ? <Notice tone="bad">✕ This checkpoint was taken during a bitmap sync and cannot be recovered to. Pick another point.</Notice> : null}
    </div>
  );
}
