/**
 * Failover-test and failover history as compliance evidence: who, when,
 * which point, how long, the result and notes. Printable: the print
 * stylesheet drops the navigation and keeps the table on white paper.
 */
import { useState } from "react";
import type { Report } from "../api/types";
import { describeError } from "../api/client";
import { Notice, Unavailable } from "../components/ui";
import { dateTime, duration } from "../lib/format";
import { useLive } from "../state/live";
import { usePoll } from "../state/poll";

const RESULT: Record<string, { text: string; tone: string }> = {
  pass: { text: "✓ pass", tone: "ok" },
  fail: { text: "✕ fail", tone: "bad" },
  unknown: { text: "? unknown", tone: "idle" },
  committed: { text: "✓ committed", tone: "ok" },
  "rolled back": { text: "↶ rolled back", tone: "idle" },
};
const KIND: Record<string, string> = { test: "failover test", failover: "live failover" };
const resultOf = (r: Report) => RESULT[r.result] ?? { text: r.result, tone: "idle" };

export function Reports() {
  const { session, site } = useLive();
  const reports = usePoll(session.api, (api) => api.get<Report[]>("/reports"), 5000, "reports");
  const [group, setGroup] = useState("");
  const all = reports.data ?? [];
  const list = all.filter((r) => !group || r.group === group).sort((a, b) => b.startedAtMs - a.startedAtMs);
  const groups = [...new Set(all.map((r) => r.group))].sort();
  return (
    <main className="page report-page" aria-labelledby="reports-h">
      <div className="page-head">
        <h1 id="reports-h">Recovery reports</h1>
        <span className="muted">
          site {site.name}, printed {dateTime(Date.now())}
        </span>
        <label className="inline no-print">
          Group
          <select value={group} onChange={(e) => setGroup(e.target.value)}>
            <option value="">all</option>
            {groups.map((g) => (
              <option key={g}>{g}</option>
            ))}
          </select>
        </label>
        {group ? <span className="print-only">group {group}</span> : null}
        <button type="button" className="no-print" onClick={() => print()}>
          Print…
        </button>
      </div>
      {reports.unavailable ? (
        <Unavailable what="Failover-test and failover reports" />
      ) : reports.error ? (
        <Notice tone="warn">{describeError(reports.error)}</Notice>
      ) : list.length === 0 ? (
        <p className="muted">No failover tests or failovers yet.</p>
      ) : (
        <div className="table-wrap">
          <table className="dense reports">
            <thead>
              <tr>
                <th scope="col">Operation</th>
                <th scope="col">Group</th>
                <th scope="col">By</th>
                <th scope="col">Started</th>
                <th scope="col">Duration</th>
                <th scope="col">Point</th>
                <th scope="col">VMs</th>
                <th scope="col">Result</th>
                <th scope="col">Notes</th>
              </tr>
            </thead>
            <tbody>
              {list.map((r, i) => (
                <tr key={r.id ?? i}>
                  <td>{KIND[r.kind ?? "test"] ?? r.kind}</td>
                  <td>{r.group}</td>
                  <td>{r.by}</td>
                  <td className="nowrap">{dateTime(r.startedAtMs)}</td>
                  <td>{duration(r.durationMs)}</td>
                  <td>
                    {r.point.label}
                    {r.point.timeMs ? <div className="muted small">{dateTime(r.point.timeMs)}</div> : null}
                  </td>
                  <td>{r.vms.join(", ")}</td>
                  <td className={`tone-text tone-${resultOf(r).tone}`}>{resultOf(r).text}</td>
                  <td className="notes">{r.notes}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </main>
  );
}
