/** Recovery operations: running ones with their steps and live progress, finished ones with outcome and log. */
import type { StepRecord, TaskRecord } from "../api/types";
import { describeError } from "../api/client";
import { Notice, ProgressBar, Section, ToneText, Unavailable } from "../components/ui";
import { dateTime, duration } from "../lib/format";
import { useNow } from "../lib/now";
import { Link } from "../lib/router";
import type { Tone } from "../lib/states";
import { useLive } from "../state/live";
import { usePoll } from "../state/poll";

const TASK_TONE: Record<TaskRecord["state"], Tone> = { running: "info", succeeded: "ok", failed: "bad", "rolled-back": "warn" };
const STEP_SYMBOL: Record<StepRecord["state"], string> = { pending: "○", running: "▶", done: "✓", failed: "✕", undone: "↶" };

function Step(props: { s: StepRecord }) {
  const { s } = props;
  return (
    <li className={`step step-${s.state}`}>
      <span className="step-sym" aria-hidden="true">
        {STEP_SYMBOL[s.state]}
      </span>
      <span className="step-name">{s.name}</span>
      <span className="step-state small">{s.state}</span>
      {s.state === "running" ? <ProgressBar fraction={s.progress ?? null} label={`${s.name} progress`} /> : <span />}
      {s.detail || s.error ? <span className={`step-detail small ${s.error ? "tone-text tone-bad" : "muted"}`}>{s.error ?? s.detail}</span> : null}
    </li>
  );
}

function Task(props: { t: TaskRecord; now: number }) {
  const { t, now } = props;
  const done = t.steps.filter((s) => s.state === "done").length;
  const running = t.steps.find((s) => s.state === "running");
  const fraction = (done + (running?.progress ?? 0)) / Math.max(1, t.steps.length);
  return (
    <article className={`task tone-border-${TASK_TONE[t.state]}`} data-task={t.id}>
      <header>
        <h3>
          {t.kind} · <Link to={`/groups/${encodeURIComponent(t.group)}`}>{t.group}</Link>
        </h3>
        <ToneText tone={TASK_TONE[t.state]}>{t.state}</ToneText>
        <span className="muted small">
          by {t.by}, started {dateTime(t.startedAtMs)}, {t.endedAtMs ? `took ${duration(t.endedAtMs - t.startedAtMs)}` : `running for ${duration(now - t.startedAtMs)}`}
        </span>
      </header>
      {t.state === "running" ? <ProgressBar fraction={fraction} label={`${t.kind} of ${t.group}`} /> : null}
      <ol className="steps">
        {t.steps.map((s, i) => (
          <Step key={i} s={s} />
        ))}
      </ol>
      {t.error ? <p className="tone-text tone-bad small">✕ {t.error}</p> : null}
      {t.log && t.log.length ? (
        <details>
          <summary>Log ({t.log.length} lines)</summary>
          <pre className="log">{t.log.join("\n")}</pre>
        </details>
      ) : null}
    </article>
  );
}

export function Tasks() {
  const { session, tasks: pushed } = useLive();
  const now = useNow(1000);
  // The live stream pushes tasks as they change; without it, they are polled every second.
  const tasks = usePoll(session.api, (api) => api.get<TaskRecord[]>("/tasks"), pushed ? null : 1000, "tasks");
  const list = pushed ?? tasks.data ?? [];
  const running = list.filter((t) => t.state === "running");
  const finished = list.filter((t) => t.state !== "running").sort((a, b) => (b.endedAtMs ?? 0) - (a.endedAtMs ?? 0));
  return (
    <main className="page" aria-labelledby="tasks-h">
      <h1 id="tasks-h">Tasks</h1>
      {!pushed && tasks.unavailable ? (
        <Unavailable what="Recovery tasks" />
      ) : !pushed && tasks.error ? (
        <Notice tone="warn">{describeError(tasks.error)}</Notice>
      ) : (
        <>
          <Section title={`Running (${running.length})`} id="running">
            {running.length ? running.map((t) => <Task key={t.id} t={t} now={now} />) : <p className="muted">Nothing running.</p>}
          </Section>
          <Section title="Finished" id="finished">
            {finished.length ? finished.map((t) => <Task key={t.id} t={t} now={now} />) : <p className="muted">No finished tasks.</p>}
          </Section>
        </>
      )}
    </main>
  );
}
