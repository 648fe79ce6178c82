/**
 * The checkpoint timeline: the whole journal window on a time axis, every
 * checkpoint a tick (thinned when too many), tagged ones tall and labelled,
 * inconsistent ones (taken during a bitmap sync) in red. The wheel or the
 * buttons zoom down to seconds, dragging pans, a click or the keyboard moves
 * the cursor; the point can also be typed ("5.7s ago", "tag:x", "14:02:10.250").
 */
import { useEffect, useMemo, useRef, useState, type KeyboardEvent, type PointerEvent, type WheelEvent } from "react";
import type { Checkpoint } from "../api/types";
import { clock, duration } from "../lib/format";
import { clampRange, indexAtOrBefore, MIN_SPAN_MS, pan, parsePick, pickTime, ticks, tOf, visibleMarks, xOf, zoom, type Pick, type Range } from "../lib/timeline";

const HEIGHT = 92;
const AXIS_Y = 64;

export interface TimelineProps {
  checkpoints: readonly Checkpoint[];
  window: Range;
  nowMs: number;
  pick: Pick;
  onPick(p: Pick): void;
}

function useWidth(): [React.RefObject<HTMLDivElement | null>, number] {
  const ref = useRef<HTMLDivElement>(null);
  const [w, setW] = useState(800);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    const ro = new ResizeObserver(() => setW(el.clientWidth || 800));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);
  return [ref, w];
}

export function Timeline(props: TimelineProps) {
  const { checkpoints: cps, window: bounds, nowMs } = props;
  const [box, width] = useWidth();
  const [view, setView] = useState<Range | null>(null); // null: follow the whole window
  const [typed, setTyped] = useState("");
  const [typedError, setTypedError] = useState<string | null>(null);
  const drag = useRef<{ x: number; view: Range; moved: boolean } | null>(null);
  const r = view ? clampRange(view, bounds) : bounds;
  const cursor = pickTime(props.pick, nowMs);

  const marks = useMemo(() => visibleMarks(cps, r, Math.max(20, Math.floor(width / 4))), [cps, r.fromMs, r.toMs, width]);
  const axis = ticks(r, Math.max(2, Math.floor(width / 110)));
  const span = r.toMs - r.fromMs;

  const pickAt = (t: number, snapPx: number) => {
    const i = indexAtOrBefore(cps, t);
    const near = [cps[i], cps[i + 1]].filter((c): c is Checkpoint => c !== undefined && (c.tag !== null || span < 60_000));
    const snap = near.find((c) => Math.abs(xOf(r, c.time, width) - xOf(r, t, width)) <= snapPx);
    if (snap) props.onPick({ kind: "checkpoint", checkpoint: snap });
    else if (t >= nowMs - 250) props.onPick({ kind: "latest" });
    else props.onPick({ kind: "time", atMs: Math.round(Math.max(bounds.fromMs, t)), how: "timeline" });
  };

  const onWheel = (e: WheelEvent<SVGSVGElement>) => {
    const rect = e.currentTarget.getBoundingClientRect();
    setView(zoom(r, e.deltaY > 0 ? 1.25 : 0.8, tOf(r, e.clientX - rect.left, width), bounds));
  };
  const onDown = (e: PointerEvent<SVGSVGElement>) => {
    e.currentTarget.setPointerCapture(e.pointerId);
    drag.current = { x: e.clientX, view: r, moved: false };
  };
  const onMove = (e: PointerEvent<SVGSVGElement>) => {
    const d = drag.current;
    if (!d) return;
    const dx = e.clientX - d.x;
    if (Math.abs(dx) > 3) d.moved = true;
    if (d.moved) setView(pan(d.view, (-dx / width) * (d.view.toMs - d.view.fromMs), bounds));
  };
  const onUp = (e: PointerEvent<SVGSVGElement>) => {
    const d = drag.current;
    drag.current = null;
    if (d && !d.moved) pickAt(tOf(r, e.clientX - e.currentTarget.getBoundingClientRect().left, width), 6);
  };
  const onKey = (e: KeyboardEvent<SVGSVGElement>) => {
    const step = e.shiftKey ? 10_000 : Math.max(100, span / 100);
    const move = (t: number) => {
      e.preventDefault();
      pickAt(Math.min(nowMs, Math.max(bounds.fromMs, t)), 0);
      if (t < r.fromMs || t > r.toMs) setView(pan(r, t < r.fromMs ? t - r.fromMs : t - r.toMs, bounds));
    };
    if (e.key === "ArrowLeft") move(cursor - step);
    else if (e.key === "ArrowRight") move(cursor + step);
    else if (e.key === "Home") move(bounds.fromMs);
    else if (e.key === "End") move(nowMs);
    else if (e.key === "+" || e.key === "=") setView(zoom(r, 0.5, cursor, bounds));
    else if (e.key === "-") setView(zoom(r, 2, cursor, bounds));
  };

  const presets: [string, number | null][] = [["Whole window", null], ["1 h", 3_600_000], ["10 min", 600_000], ["1 min", 60_000], ["10 s", 10_000]];
  const setSpan = (ms: number | null) => {
    if (ms === null) return setView(null);
    const s = Math.max(MIN_SPAN_MS, ms);
    const center = Math.min(nowMs, cursor + s / 2);
    setView(clampRange({ fromMs: center - s, toMs: center }, bounds));
  };

  const submitTyped = () => {
    const p = parsePick(typed, cps, Date.now());
    if (typeof p === "string") return setTypedError(p);
    setTypedError(null);
    props.onPick(p);
    const t = pickTime(p, nowMs);
    if (t < r.fromMs || t > r.toMs) setView(clampRange({ fromMs: t - span / 2, toMs: t + span / 2 }, bounds));
  };

  const cx = xOf(r, cursor, width);
  return (
    <div className="timeline">
      <div className="timeline-tools">
        <span className="muted small">Zoom</span>
        {presets.map(([label, ms]) => (
          <button key={label} type="button" className="chip" onClick={() => setSpan(ms)} aria-pressed={ms === null ? view === null : view !== null && Math.abs(span - ms) < 1}>
            {label}
          </button>
        ))}
        <button type="button" className="chip" onClick={() => setView(zoom(r, 0.5, cursor, bounds))} aria-label="Zoom in around the cursor">
          +
        </button>
        <button type="button" className="chip" onClick={() => setView(zoom(r, 2, cursor, bounds))} aria-label="Zoom out">
          −
        </button>
        <span className="muted small">showing {duration(span)}</span>
        <form
          className="typed-point"
          onSubmit={(e) => {
            e.preventDefault();
            submitTyped();
          }}
        >
          <label htmlFor="point-input" className="small">
            Point
          </label>
          <input id="point-input" value={typed} onChange={(e) => setTyped(e.target.value)} placeholder="5.7s ago · tag:before-upgrade · 14:02:10.250" aria-invalid={typedError ? true : undefined} />
          <button type="submit" className="chip">
            Go
          </button>
        </form>
      </div>
      {typedError ? (
        <p className="form-error small" role="alert">
          {typedError}
        </p>
      ) : null}
      <div ref={box} className="timeline-box">
        <svg
          width={width}
          height={HEIGHT}
          role="slider"
          tabIndex={0}
          aria-label="Recovery point on the journal timeline (arrow keys move, + and − zoom)"
          aria-valuemin={bounds.fromMs}
          aria-valuemax={nowMs}
          aria-valuenow={Math.round(cursor)}
          aria-valuetext={`${clock(cursor)}, ${duration(nowMs - cursor)} ago`}
          onWheel={onWheel}
          onPointerDown={onDown}
          onPointerMove={onMove}
          onPointerUp={onUp}
          onKeyDown={onKey}
          data-testid="timeline"
        >
          <rect x={0} y={AXIS_Y - 30} width={width} height={30} className="tl-window" />
          {marks.map((c) => {
            const x = xOf(r, c.time, width);
            return (
              <g key={c.id} className={c.tag ? "tl-tag" : c.consistent ? "tl-cp" : "tl-bad"}>
                <line x1={x} x2={x} y1={c.tag ? AXIS_Y - 44 : AXIS_Y - 14} y2={AXIS_Y} />
                {c.tag ? (
                  <text x={x + 3} y={AXIS_Y - 36}>
                    {c.tag}
                  </text>
                ) : null}
              </g>
            );
          })}
          <line x1={0} x2={width} y1={AXIS_Y} y2={AXIS_Y} className="tl-axis" />
          {axis.map((t) => {
            const x = xOf(r, t, width);
            return (
              <g key={t} className="tl-tick">
                <line x1={x} x2={x} y1={AXIS_Y} y2={AXIS_Y + 5} />
                <text x={x} y={AXIS_Y + 18} textAnchor="middle">
                  {clock(t, span < 10_000)}
                </text>
              </g>
            );
          })}
          {cursor >= r.fromMs && cursor <= r.toMs ? (
            <g className="tl-cursor">
              <line x1={cx} x2={cx} y1={4} y2={AXIS_Y + 6} />
              <polygon points={`${cx - 5},0 ${cx + 5},0 ${cx},7`} />
            </g>
          ) : null}
        </svg>
      </div>
      <p className="muted small legend">
        <span className="key tl-cp-key" /> checkpoint <span className="key tl-tag-key" /> tagged <span className="key tl-bad-key" /> inconsistent (bitmap
        sync; cannot be recovered to) — wheel to zoom, drag to pan, click to pick a point, or focus the timeline and use ← → (Shift: 10 s).
      </p>
    </div>
  );
}
