/**
 * Protection at a glance, for a laptop or a wall screen: the sites and the
 * link between them, every group with its state and reason, RPO now against
 * its target, history covered against its setting, throughput, open alerts.
 * Groups in trouble come first, marked by colour, symbol and words.
 */
import type { Alert, GroupStatus, Peer } from "../api/types";
import { RpoSparkline } from "../components/Sparkline";
import { Meter, Notice, Section, StateBadge, ToneText } from "../components/ui";
import { ago, dateTime, duration, rate } from "../lib/format";
import { useNow } from "../lib/now";
import { Link } from "../lib/router";
import { inTrouble, rpoTone, STATE_LOOK } from "../lib/states";
import { useLive } from "../state/live";

function Summary(props: { groups: GroupStatus[] }) {
  const trouble = props.groups.filter((g) => inTrouble(g.state));
  const worst = props.groups.reduce<number | null>((m, g) => (g.rpoMs === null ? m : Math.max(m ?? 0, g.rpoMs)), null);
  return (
    <div className={`summary tone-${trouble.length ? "bad" : "ok"}`} role="status" data-testid="summary">
      <span className="big">
        {trouble.length
          ? `${trouble.length} of ${props.groups.length} group${props.groups.length === 1 ? "" : "s"} ${trouble.length === 1 ? "needs" : "need"} attention`
          : props.groups.length
            ? `${props.groups.length} group${props.groups.length === 1 ? "" : "s"}, none in trouble`
            : "No protection groups yet"}
      </span>
      <span className="sub">
        worst RPO now <strong>{duration(worst)}</strong>
      </span>
    </div>
  );
}

interface LinkView {
  state: "up" | "down" | "none";
  throughput: number;
  /** The link's limit (the site pair's, else the sum of its groups'); null: unlimited; undefined: the site does not say. */
  limit: number | null | undefined;
}

function linkOf(peer: Peer, groups: GroupStatus[]): LinkView {
  const mine = groups.filter((g) => g.protectedSite === peer.name || g.recoverySite === peer.name);
  const throughput = mine.reduce((s, g) => s + g.throughputBytesPerSec, 0);
  const limits = mine.map((g) => g.bandwidthBytesPerSec);
  const groupLimit = limits.some((l) => l === undefined) || limits.length === 0 ? undefined : limits.some((l) => l === null) ? null : limits.reduce<number>((s, l) => s + (l ?? 0), 0);
  const pair = peer.bandwidthBytesPerSec;
  const limit = typeof pair === "number" ? (typeof groupLimit === "number" ? Math.min(pair, groupLimit) : pair) : groupLimit === undefined ? pair : groupLimit;
  const state = mine.some((g) => g.link === "down") ? "down" : mine.some((g) => g.link === "up") ? "up" : "none";
  return { state, throughput, limit };
}

function Sites(props: { groups: GroupStatus[] }) {
  const { site } = useLive();
  if (site.peers.length === 0) {
    return (
      <Section title="Sites" id="sites">
        <p className="muted">
          Site <strong>{site.name}</strong> is not paired with another site yet. Pair it under <Link to="/settings">Settings</Link>.
        </p>
      </Section>
    );
  }
  return (
    <Section title="Sites and links" id="sites">
      <ul className="sites">
        {site.peers.map((p) => {
          const l = linkOf(p, props.groups);
          const tone = l.state === "up" ? "ok" : l.state === "down" ? "bad" : "idle";
          return (
            <li key={p.name} className="site-link" data-testid={`link-${p.name}`}>
              <span className="site-box">
                <strong>{site.name}</strong>
                <span className="muted">this site</span>
              </span>
              <span className={`wire tone-${tone}`}>
                <ToneText tone={tone}>
                  {l.state === "up" ? "✓ link up" : l.state === "down" ? "✕ link down" : "○ no replication"}
                </ToneText>
                <span className="muted">
                  {rate(l.throughput)}
                  {l.limit === undefined ? "" : l.limit === null ? " · no bandwidth limit" : ` · limit ${rate(l.limit)}`}
                </span>
              </span>
              <span className="site-box">
                <strong>{p.name}</strong>
                <span className="muted">paired {dateTime(p.pairedAt)}</span>
              </span>
            </li>
          );
        })}
      </ul>
    </Section>
  );
}

function GroupRow(props: { g: GroupStatus }) {
  const { history, tick } = useLive();
  const { g } = props;
  const trouble = inTrouble(g.state);
  const historyTone = g.historyCoveredMs === null ? "idle" : g.historyCoveredMs < g.historyTargetMs * 0.9 ? "warn" : "ok";
  const rt = rpoTone(g.rpoMs, g.rpoTargetMs);
  return (
    <tr className={trouble ? "trouble" : undefined} data-group={g.name}>
      <th scope="row">
        <Link to={`/groups/${encodeURIComponent(g.name)}`}>{g.name}</Link>
        <div className="muted small">
          {g.protectedSite} → {g.recoverySite}
        </div>
      </th>
      <td>
        <StateBadge state={g.state} percent={g.percent} />
        <div className="reason small">{g.reason}</div>
      </td>
      <td className="rpo">
        <div className="rpo-now">
          <ToneText tone={rt}>{duration(g.rpoMs)}</ToneText>
          <span className="muted small"> / target {duration(g.rpoTargetMs)}</span>
        </div>
        <RpoSparkline samples={history.of(g.name)} targetMs={g.rpoTargetMs} tick={tick} label={`RPO of ${g.name} over the last hour`} />
      </td>
      <td>
        <Meter
          value={g.historyCoveredMs}
          max={g.historyTargetMs}
          tone={historyTone}
          label={`journal history of ${g.name}`}
          text={`${duration(g.historyCoveredMs)} of ${duration(g.historyTargetMs)}`}
        />
      </td>
      <td className="num">{rate(g.throughputBytesPerSec)}</td>
      <td className="num">{g.alerts ? <ToneText tone="bad">{`! ${g.alerts}`}</ToneText> : <span className="muted">0</span>}</td>
    </tr>
  );
}

function Groups(props: { groups: GroupStatus[] }) {
  const order = (g: GroupStatus) => (inTrouble(g.state) ? 0 : STATE_LOOK[g.state].tone === "warn" ? 1 : 2);
  const sorted = [...props.groups].sort((a, b) => order(a) - order(b) || a.name.localeCompare(b.name));
  return (
    <Section title="Protection groups" id="groups">
      {sorted.length === 0 ? (
        <p className="muted">
          No groups yet. Create one with <code>lifeline group create NAME --recovery-site SITE</code> or under <Link to="/settings">Settings</Link>.
        </p>
      ) : (
        <div className="table-wrap">
          <table className="groups">
            <thead>
              <tr>
                <th scope="col">Group</th>
                <th scope="col">State</th>
                <th scope="col">RPO (last hour)</th>
                <th scope="col">History covered</th>
                <th scope="col" className="num">Throughput</th>
                <th scope="col" className="num">Alerts</th>
              </tr>
            </thead>
            <tbody>
              {sorted.map((g) => (
                <GroupRow key={g.name} g={g} />
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Section>
  );
}

export function AlertList(props: { alerts: Alert[]; empty: string }) {
  const now = useNow(5000);
  if (props.alerts.length === 0) return <p className="muted">{props.empty}</p>;
  return (
    <ul className="alerts">
      {props.alerts.map((a) => (
        <li key={a.id} className={`alert tone-${a.severity === "critical" ? "bad" : "warn"}`}>
          <span className="sev">{a.severity === "critical" ? "✕ critical" : "! warning"}</span>
          <span className="msg">{a.message}</span>
          <span className="muted small">
            {a.clearedAt ? `cleared ${ago(now - a.clearedAt)}` : `raised ${ago(now - a.raisedAt)}`}
          </span>
        </li>
      ))}
    </ul>
  );
}

export function Dashboard() {
  const { groups, alerts } = useLive();
  return (
    <main className="page" aria-labelledby="dash-h">
      <h1 id="dash-h" className="sr-only">
        Dashboard
      </h1>
      {groups === undefined ? (
        <Notice tone="idle">Loading groups…</Notice>
      ) : (
        <>
          <Summary groups={groups} />
          <div className="grid-2">
            <Sites groups={groups} />
            <Section title="Open alerts" id="open-alerts">
              <AlertList alerts={alerts} empty="No open alerts." />
            </Section>
          </div>
          <Groups groups={groups} />
        </>
      )}
    </main>
  );
}
