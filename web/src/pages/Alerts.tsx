/** Current alerts and the event log, filtered by group, severity and words. */
import { useEffect, useState } from "react";
import type { Alert, LifelineEvent, Severity } from "../api/types";
import { describeError } from "../api/client";
import { Notice, Section } from "../components/ui";
import { dateTime } from "../lib/format";
import { useLive } from "../state/live";
import { usePoll } from "../state/poll";
import { can } from "../state/session";
import { AlertList } from "./Dashboard";

interface AuditEntry {
  id: number;
  time: number;
  actor: string;
  action: string;
  target: string;
  detail: Record<string, unknown>;
}

/** Who changed what through the API (admins only). */
function AuditLog() {
  const { session } = useLive();
  const audit = usePoll(session.api, (api) => api.get<AuditEntry[]>("/audit", { since: Date.now() - 7 * 86_400_000 }), 10_000, "audit");
  return (
    <Section title="Audit log (last 7 days)" id="audit">
      {audit.error ? <Notice tone="warn">{describeError(audit.error)}</Notice> : null}
      <div className="table-wrap">
        <table className="dense">
          <thead>
            <tr>
              <th scope="col">Time</th>
              <th scope="col">Who</th>
              <th scope="col">Action</th>
              <th scope="col">Target</th>
              <th scope="col">Detail</th>
            </tr>
          </thead>
          <tbody>
            {(audit.data ?? []).slice().reverse().slice(0, 300).map((e) => (
              <tr key={e.id}>
                <td className="nowrap">{dateTime(e.time)}</td>
                <td>{e.actor}</td>
                <td>{e.action}</td>
                <td>{e.target}</td>
                <td className="small">
                  <code>{Object.keys(e.detail).length ? JSON.stringify(e.detail) : ""}</code>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </Section>
  );
}

const SEV_TONE: Record<Severity, string> = { info: "idle", warning: "warn", critical: "bad" };
const SEV_TEXT: Record<Severity, string> = { info: "info", warning: "! warning", critical: "✕ critical" };

export function Alerts() {
  const { session, groups, alerts, lastEventId } = useLive();
  const [group, setGroup] = useState("");
  const [severity, setSeverity] = useState<"" | Severity>("");
  const [text, setText] = useState("");
  const [showCleared, setShowCleared] = useState(false);
  const [sinceMs, setSinceMs] = useState(0);
  const events = usePoll(
    session.api,
    (api) => api.get<LifelineEvent[]>("/events", { group: group || undefined, since: sinceMs ? Date.now() - sinceMs : undefined }),
    3000,
    `events-${group}-${sinceMs}`,
  );
  // An event on the live stream lists the log again at once rather than at the next poll.
  const { refresh: refreshEvents } = events;
  useEffect(() => {
    if (lastEventId) refreshEvents();
  }, [lastEventId]);
  const all = usePoll(session.api, (api) => (showCleared ? api.get<Alert[]>("/alerts", { all: "true" }) : Promise.resolve([])), 5000, `alerts-${showCleared}`);
  const shown = (events.data ?? [])
    .filter((e) => (severity ? e.severity === severity : true) && (text ? `${e.kind} ${e.message}`.toLowerCase().includes(text.toLowerCase()) : true))
    .reverse();
  return (
    <main className="page" aria-labelledby="alerts-h">
      <h1 id="alerts-h">Alerts and events</h1>
      <Section
        title={`Open alerts (${alerts.length})`}
        id="alerts"
        actions={
          <label className="inline small">
            <input type="checkbox" checked={showCleared} onChange={(e) => setShowCleared(e.target.checked)} /> show cleared too
          </label>
        }
      >
        <AlertList alerts={showCleared ? (all.data ?? []).slice().reverse() : alerts} empty="No open alerts." />
      </Section>
      <Section title="Event log" id="events">
        <form className="filters" onSubmit={(e) => e.preventDefault()} role="search" aria-label="Filter events">
          <label>
            Group
            <select value={group} onChange={(e) => setGroup(e.target.value)}>
              <option value="">all</option>
              {(groups ?? []).map((g) => (
                <option key={g.name}>{g.name}</option>
              ))}
            </select>
          </label>
          <label>
            Severity
            <select value={severity} onChange={(e) => setSeverity(e.target.value as "" | Severity)}>
              <option value="">all</option>
              <option value="info">info</option>
              <option value="warning">warning</option>
              <option value="critical">critical</option>
            </select>
          </label>
          <label>
            Period
            <select value={sinceMs} onChange={(e) => setSinceMs(Number(e.target.value))}>
              <option value={3_600_000}>last hour</option>
              <option value={86_400_000}>last 24 hours</option>
              <option value={7 * 86_400_000}>last 7 days</option>
              <option value={0}>all (newest 1000)</option>
            </select>
          </label>
          <label>
            Contains
            <input type="search" value={text} onChange={(e) => setText(e.target.value)} placeholder="rpo, link, checkpoint…" />
          </label>
          <span className="muted small">{shown.length} events</span>
        </form>
        {events.error ? <Notice tone="warn">{describeError(events.error)}</Notice> : null}
        <div className="table-wrap">
          <table className="dense events">
            <thead>
              <tr>
                <th scope="col">Time</th>
                <th scope="col">Severity</th>
                <th scope="col">Kind</th>
                <th scope="col">Group</th>
                <th scope="col">Message</th>
              </tr>
            </thead>
            <tbody>
              {shown.slice(0, 500).map((e) => (
                <tr key={e.id}>
                  <td className="nowrap">{dateTime(e.time)}</td>
                  <td className={`tone-text tone-${SEV_TONE[e.severity]}`}>{SEV_TEXT[e.severity]}</td>
                  <td>{e.kind}</td>
                  <td>{e.group ?? "—"}</td>
                  <td>{e.message}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </Section>
      {can(session.role, "admin") ? <AuditLog /> : null}
    </main>
  );
}
