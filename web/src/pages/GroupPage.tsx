/**
 * One group: its state and numbers, VMs and disks, live charts, and the
 * checkpoint timeline with the point it would recover and the operations
 * that start from there.
 */
import { useState } from "react";
import type { GroupStatus } from "../api/types";
import { describeError } from "../api/client";
import { Meter, Notice, Section, StateBadge, ToneText } from "../components/ui";
import { bytes, duration, rate } from "../lib/format";
import { useNow } from "../lib/now";
import { Link } from "../lib/router";
import { rpoTone } from "../lib/states";
import type { Pick } from "../lib/timeline";
import { useLive } from "../state/live";
import { Actions } from "./group/Actions";
import { LiveCharts } from "./group/LiveCharts";
import { PointSummary } from "./group/PointSummary";
import { useCheckpoints } from "./group/useCheckpoints";
import { Vms } from "./group/Vms";
import { Timeline } from "./Timeline";

function Facts(props: { g: GroupStatus }) {
  const { g } = props;
  return (
    <dl className="facts wide">
      <div>
        <dt>RPO now</dt>
        <dd>
          <ToneText tone={rpoTone(g.rpoMs, g.rpoTargetMs)}>{duration(g.rpoMs)}</ToneText> <span className="muted">target {duration(g.rpoTargetMs)}</span>
        </dd>
      </div>
      <div>
        <dt>History covered</dt>
        <dd>
          <Meter value={g.historyCoveredMs} max={g.historyTargetMs} tone="info" label="journal history" text={`${duration(g.historyCoveredMs)} of ${duration(g.historyTargetMs)}`} />
        </dd>
      </div>
      <div>
        <dt>Journal</dt>
        <dd>
          <Meter
            value={g.journalBytes}
            max={g.journalLimitBytes}
            tone={g.journalBytes !== null && g.journalBytes > g.journalLimitBytes * 0.8 ? "warn" : "info"}
            label="journal size against its limit"
            text={`${bytes(g.journalBytes)} of ${bytes(g.journalLimitBytes)}`}
          />
        </dd>
      </div>
      <div>
        <dt>Link</dt>
        <dd>
          <ToneText tone={g.link === "up" ? "ok" : g.link === "down" ? "bad" : "idle"}>{g.link === "up" ? "✓ up" : g.link === "down" ? "✕ down" : "○ none"}</ToneText>
        </dd>
      </div>
      <div>
        <dt>Throughput</dt>
        <dd>{rate(g.throughputBytesPerSec)}</dd>
      </div>
      <div>
        <dt>Queue</dt>
        <dd>{bytes(g.queueBytes)}</dd>
      </div>
      <div>
        <dt>Replicated</dt>
        <dd>
          {bytes(g.replicatedBytes)} in {g.replicatedWrites.toLocaleString()} writes, compression ×{g.compressionRatio.toFixed(2)}
        </dd>
      </div>
    </dl>
  );
}

export function GroupPage(props: { name: string }) {
  const { groups, session, history, tick } = useLive();
  const now = useNow(500);
  const [pick, setPick] = useState<Pick>({ kind: "latest" });
  const g = groups?.find((x) => x.name === props.name);
  const windowMs = g ? Math.max(g.historyCoveredMs ?? 0, 60_000) : 60_000;
  const { checkpoints, error } = useCheckpoints(session.api, props.name, now - Math.max(windowMs, g?.historyTargetMs ?? 0));

  if (groups === undefined) return <main className="page"><Notice tone="idle">Loading…</Notice></main>;
  if (!g) {
    return (
      <main className="page">
        <h1>Group {props.name}</h1>
        <Notice tone="warn">No group named “{props.name}” at this site. <Link to="/">Back to the dashboard</Link>.</Notice>
      </main>
    );
  }
  const oldest = checkpoints[0]?.time;
  const fromMs = g.historyCoveredMs !== null ? now - g.historyCoveredMs : oldest ?? now - 60_000;
  const windowRange = { fromMs: Math.min(fromMs, now - 2000), toMs: now };

  return (
    <main className="page" aria-labelledby="group-h">
      <div className="page-head">
        <h1 id="group-h">
          <span className="muted">group</span> {g.name}
        </h1>
        <StateBadge state={g.state} percent={g.percent} />
        <span className="reason">{g.reason}</span>
        <span className="muted">
          {g.protectedSite} → {g.recoverySite} · this site is its <strong>{g.role}</strong> site
        </span>
      </div>
      <Section title="Status" id="status">
        <Facts g={g} />
      </Section>
      <Section title="Checkpoint timeline" id="timeline">
        {error ? <Notice tone="warn">Checkpoints could not be listed: {describeError(error)}</Notice> : null}
        <Timeline checkpoints={checkpoints} window={windowRange} nowMs={now} pick={pick} onPick={setPick} />
        <div className="grid-2 point-grid">
          <PointSummary g={g} pick={pick} checkpoints={checkpoints} nowMs={now} />
          <Actions g={g} pick={pick} nowMs={now} />
        </div>
      </Section>
      <Section title="VMs and disks" id="vms">
        <Vms g={g} />
      </Section>
      <Section title="Live" id="live">
        <LiveCharts samples={history.of(g.name)} rpoTargetMs={g.rpoTargetMs} tick={tick} group={g.name} />
      </Section>
    </main>
  );
}
