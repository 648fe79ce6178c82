/** Small shared pieces: state badges, progress bars, meters, notices. */
import type { ReactNode } from "react";
import type { GroupStateName } from "../api/types";
import { percent } from "../lib/format";
import { STATE_LOOK, type Tone } from "../lib/states";

export function StateBadge(props: { state: GroupStateName; percent?: number | null }) {
  const look = STATE_LOOK[props.state];
  const pct = props.percent !== null && props.percent !== undefined ? ` ${Math.round(props.percent)}%` : "";
  return (
    <span className={`badge tone-${look.tone}`} data-state={props.state}>
      <span aria-hidden="true" className="sym">{look.symbol}</span>
      {look.label}
      {pct}
    </span>
  );
}

export function ToneText(props: { tone: Tone; children: ReactNode }) {
  return <span className={`tone-text tone-${props.tone}`}>{props.children}</span>;
}

export function ProgressBar(props: { fraction: number | null | undefined; label: string; tone?: Tone }) {
  const f = props.fraction;
  const known = f !== null && f !== undefined && Number.isFinite(f);
  return (
    <div
      className={`progress tone-${props.tone ?? "info"}${known ? "" : " indeterminate"}`}
      role="progressbar"
      aria-label={props.label}
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={known ? Math.round(f * 100) : undefined}
    >
      <div className="bar" style={{ width: known ? percent(Math.min(1, Math.max(0, f))) : "30%" }} />
    </div>
  );
}

/** A value against its limit or setting, as a bar with both numbers in words. */
export function Meter(props: { value: number | null; max: number; text: string; label: string; tone: Tone }) {
  return (
    <div className="meter">
      <ProgressBar fraction={props.value === null ? 0 : props.value / props.max} label={props.label} tone={props.tone} />
      <span className="meter-text">{props.text}</span>
    </div>
  );
}

export function Notice(props: { tone: Tone; children: ReactNode; role?: "alert" | "status" }) {
  return (
    <div className={`notice tone-${props.tone}`} role={props.role ?? "status"}>
      {props.children}
    </div>
  );
}

export function Unavailable(props: { what: string }) {
  return (
    <Notice tone="idle">
      <strong>{props.what}</strong>: not available on this site yet. The site's API does not offer it; this page will use it once the site is upgraded.
    </Notice>
  );
}

export function Section(props: { title: string; children: ReactNode; actions?: ReactNode; id?: string }) {
  return (
    <section className="panel" aria-labelledby={props.id ? `${props.id}-h` : undefined} id={props.id}>
      <header className="panel-head">
        <h2 id={props.id ? `${props.id}-h` : undefined}>{props.title}</h2>
        {props.actions ? <div className="panel-actions">{props.actions}</div> : null}
      </header>
      {props.children}
    </section>
  );
}
