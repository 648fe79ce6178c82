/** RPO over the last hour (as the site sampled it), against the target line. */
import { useMemo } from "react";
import type uPlot from "uplot";
import type { Sample } from "../state/history";
import { cssColor } from "../lib/css";
import { Chart } from "./Chart";

export function RpoSparkline(props: { samples: readonly Sample[]; targetMs: number; tick: number; label: string }) {
  const { samples, targetMs, tick } = props;
  const data = useMemo<uPlot.AlignedData>(() => {
    const t = samples.map((s) => s.t / 1000);
    return [t, samples.map((s) => (s.rpoMs === null ? null : s.rpoMs / 1000)), samples.map(() => targetMs / 1000)];
    // tick: the samples array is appended in place; redraw on each poll.
  }, [samples, targetMs, tick]);
  const series = useMemo<uPlot.Series[]>(
    () => [{}, { stroke: cssColor("--c-accent"), width: 1.5, fill: cssColor("--c-accent-fill"), points: { show: false } }, { stroke: cssColor("--c-bad"), width: 1, dash: [3, 3], points: { show: false } }],
    [],
  );
  if (!samples.some((s) => s.rpoMs !== null)) return <div className="muted small spark-empty">no RPO measured yet</div>;
  return <Chart title={props.label} data={data} series={series} spark scales={{ y: { range: (_u, _min, max) => [0, Math.max(max, targetMs / 1000) * 1.1] } }} />;
}
