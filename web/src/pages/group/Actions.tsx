/**
 * The recovery operations from the picked point, each behind a confirmation
 * that says what will happen. Which apply depends on the group's state
 * (stop test while a test runs; commit, rollback and reverse protection
 * after a failover) and on the token's role (an operator or above). A route
 * the site does not have yet answers 404: the dialog says so.
 */
import { useRef, useState, type ReactNode } from "react";
import type { GroupStatus } from "../../api/types";
import { ConfirmDialog, type ConfirmSpec } from "../../components/Confirm";
import { navigate } from "../../lib/router";
import { pointText, type Pick } from "../../lib/timeline";
import { useLive } from "../../state/live";
import { can } from "../../state/session";
import { describePick } from "./PointSummary";

interface Started {
  id?: string;
}

function ResultFields(props: { onChange(r: { result: string; notes: string }): void }) {
  const [result, setResult] = useState("pass");
  const [notes, setNotes] = useState("");
  const update = (r: string, n: string) => {
    setResult(r);
    setNotes(n);
    props.onChange({ result: r, notes: n });
  };
  return (
    <fieldset className="result-fields">
      <legend>Test result (goes into the report)</legend>
      {["pass", "fail", "unknown"].map((r) => (
        <label key={r} className="inline">
          <input type="radio" name="result" value={r} checked={result === r} onChange={() => update(r, notes)} /> {r}
        </label>
      ))}
      <label htmlFor="notes">Notes</label>
      <textarea id="notes" rows={3} value={notes} onChange={(e) => update(result, e.target.value)} placeholder="What was checked, by whom" />
    </fieldset>
  );
}

function RestoreFields(props: { g: GroupStatus; onChange(disk: string): void }) {
  const disks = props.g.vms.flatMap((v) => v.disks.map((d) => `${v.name}/${d.name}`));
  return (
    <label className="block">
      Disk to restore
      <select onChange={(e) => props.onChange(e.target.value)} defaultValue={disks[0]}>
        {disks.map((d) => (
          <option key={d}>{d}</option>
        ))}
      </select>
    </label>
  );
}

export function Actions(props: { g: GroupStatus; pick: Pick; nowMs: number }) {
  const { session, site, refresh } = useLive();
  const { g, pick, nowMs } = props;
  const [spec, setSpec] = useState<ConfirmSpec | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const [tag, setTag] = useState("");
  const base = `/groups/${encodeURIComponent(g.name)}`;
  const point = pointText(pick);
  const where = describePick(pick, nowMs);
  const operator = can(session.role, "operator");
  const vmList = g.vms.map((v) => v.name).join(", ") || "no VMs";
  const stopValues = useRef({ result: "pass", notes: "" });
  const firstDisk = g.vms[0]?.disks[0] ? `${g.vms[0].name}/${g.vms[0].disks[0].name}` : "";
  const restoreDisk = useRef(firstDisk);

  const start = (title: string, path: string, body: () => unknown, effects: ReactNode[], opts: { danger?: boolean; label: string; extra?: ReactNode; after?: string }) =>
    setSpec({
      title,
      effects,
      danger: opts.danger,
      confirmLabel: opts.label,
      body: opts.extra,
      run: async () => {
        const r = await session.api.post<Started | undefined>(path, body());
        setDone(`${title}: started${r?.id ? ` (task ${r.id})` : ""}.`);
        refresh();
        if (opts.after) navigate(opts.after);
      },
    });

  if (!operator) {
    return (
      <p className="muted small" data-testid="no-actions">
        Your token has the <strong>{session.role}</strong> role: recovery operations need an operator or admin token.
      </p>
    );
  }

  const testRunning = g.state === "test-running";
  const failedOver = g.state === "failed-over";

  return (
    <div className="actions" data-testid="actions">
      {g.role === "protected" && site.peers.some((p) => p.name === g.recoverySite) ? (
        <p className="muted small">
          Recovery runs at the recovery site {g.recoverySite}
          {" — "}
          <a href={`${site.peers.find((p) => p.name === g.recoverySite)!.apiUrl}/groups/${encodeURIComponent(g.name)}`}>open its console</a> if this site refuses.
        </p>
      ) : null}
      <div className="button-row">
        {!testRunning && !failedOver ? (
          <>
            <button
              type="button"
              className="primary"
              onClick={() =>
                start(`Test failover of ${g.name}`, `${base}/test`, () => ({ point }), [
                  <>open the disks at <strong>{where}</strong> as copy-on-write views, exported as <code>test/{g.name}/…</code></>,
                  <>start {vmList} on the isolated <strong>test</strong> network, in boot order</>,
                  "leave production untouched; replication and protection go on",
                ], { label: "Start test", after: "/tasks" })
              }
            >
              Test failover
            </button>
            <button
              type="button"
              className="danger"
              onClick={() =>
                start(`Fail over ${g.name}`, `${base}/failover`, () => ({ point }), [
                  <>shut the protected VMs down at site {g.protectedSite} if it answers</>,
                  <><strong>stop replication</strong> of {g.name}</>,
                  <>serve the disks at <strong>{where}</strong> and start {vmList} on the <strong>live</strong> network</>,
                  "then wait for you to commit or roll back",
                ], { danger: true, label: "Fail over now", after: "/tasks" })
              }
            >
              Failover…
            </button>
            <button
              type="button"
              onClick={() =>
                start(`Move ${g.name} to ${g.role === "protected" ? g.recoverySite : g.protectedSite}`, `${base}/move`, () => ({ reverseProtect: true }), [
                  "quiesce the protected disks (new writes wait), wait until RPO is 0",
                  "take a final tagged checkpoint and fail over to it: no data lost",
                  "commit, then protect the group back the other way",
                ], { danger: true, label: "Move", after: "/tasks" })
              }
            >
              Move…
            </button>
            <button
              type="button"
              onClick={() =>
                start(`Restore a disk of ${g.name}`, `${base}/restore`, () => ({ point, disk: restoreDisk.current || firstDisk }), [
                  <>write the chosen disk's contents at <strong>{where}</strong> back over it</>,
                  "its current contents are lost; the other disks are untouched",
                ], { danger: true, label: "Restore", extra: <RestoreFields g={g} onChange={(d) => (restoreDisk.current = d)} />, after: "/tasks" })
              }
              disabled={firstDisk === ""}
            >
              Restore a disk…
            </button>
          </>
        ) : null}
        {testRunning ? (
          <button
            type="button"
            className="primary"
            onClick={() =>
              start(`Stop the failover test of ${g.name}`, `${base}/test/stop`, () => ({ ...stopValues.current }), [
                "stop the test VMs and throw their disks' changes away",
                "release the pinned point so the journal can move on",
                "write the test report with your result and notes",
              ], { label: "Stop test", extra: <ResultFields onChange={(v) => (stopValues.current = v)} />, after: "/reports" })
            }
          >
            Stop test…
          </button>
        ) : null}
        {failedOver ? (
          <>
            <button
              type="button"
              className="primary"
              onClick={() =>
                start(`Commit the failover of ${g.name}`, `${base}/commit`, () => ({}), [
                  "make the recovered point permanent: fold the journal and the VMs' new writes into the replica",
                  "the VMs keep running meanwhile; rolling back is no longer possible",
                ], { label: "Commit", after: "/tasks" })
              }
            >
              Commit…
            </button>
            <button
              type="button"
              className="danger"
              onClick={() =>
                start(`Roll back the failover of ${g.name}`, `${base}/rollback`, () => ({}), [
                  "stop the recovered VMs and drop what they wrote",
                  "restart replication from the protected site as before",
                ], { danger: true, label: "Roll back", after: "/tasks" })
              }
            >
              Rollback…
            </button>
            <button
              type="button"
              onClick={() =>
                start(`Protect ${g.name} back`, `${base}/reverse`, () => ({}), [
                  `make the recovered disks production at site ${g.recoverySite}`,
                  `make ${g.protectedSite} the recovery site: delta sync, then continuous replication the other way`,
                ], { label: "Reverse protection", after: "/tasks" })
              }
            >
              Reverse protect…
            </button>
          </>
        ) : null}
      </div>
      {g.role === "protected" ? (
        <form
          className="tag-form"
          onSubmit={(e) => {
            e.preventDefault();
            start(`Take a checkpoint of ${g.name}`, `${base}/checkpoints`, () => (tag.trim() ? { tag: tag.trim() } : {}), [
              <>mark the current point of {g.name}'s write stream{tag.trim() ? <> with the tag <strong>{tag.trim()}</strong></> : null}, consistent across all its disks</>,
              "it can be picked on the timeline once the recovery site holds it",
            ], { label: "Take checkpoint" });
          }}
        >
          <label htmlFor="tag-input" className="small">
            Tagged checkpoint
          </label>
          <input id="tag-input" value={tag} onChange={(e) => setTag(e.target.value)} placeholder="before-upgrade" maxLength={200} />
          <button type="submit">Take checkpoint…</button>
        </form>
      ) : null}
      {done ? (
        <p className="small" role="status">
          ✓ {done}
        </p>
      ) : null}
      <ConfirmDialog spec={spec} onClose={() => setSpec(null)} />
    </div>
  );
}
