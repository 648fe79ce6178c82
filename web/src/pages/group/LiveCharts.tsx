/** Live charts of RPO, throughput and queue depth: the site's last hour, then each second's sample as it comes. */
import { useMemo } from "react";
import type uPlot from "uplot";
import { cssColor } from "../../lib/css";
import { Chart } from "../../components/Chart";
import { bytes, clock } from "../../lib/format";
import type { Sample } from "../../state/history";

function gridAxis(): uPlot.Axis {
  return { stroke: cssColor("--c-muted"), grid: { stroke: cssColor("--c-grid"), width: 1 }, ticks: { stroke: cssColor("--c-grid"), width: 1 } };
}
/** Wall-clock times, 24-hour, as everywhere else in the console. */
const timeAxis = (): uPlot.Axis => ({ ...gridAxis(), values: (_u, vals) => vals.map((v) => clock(v * 1000, false)) });
const axis = (fmt: (v: number) => string): uPlot.Axis => ({ ...gridAxis(), size: 70, values: (_u, vals) => vals.map(fmt) });
/** At least five minutes on the time axis, so a fresh page does not stretch a few samples over years. */
const x: uPlot.Scale = { time: true, range: (_u, min, max) => [Math.min(min, max - 300), max] };

export function LiveCharts(props: { samples: readonly Sample[]; rpoTargetMs: number; tick: number; group: string }) {
  const { samples, rpoTargetMs, tick } = props;
  const t = useMemo(() => samples.map((s) => s.t / 1000), [samples, tick]);
  const rpo = useMemo<uPlot.AlignedData>(() => [t, samples.map((s) => (s.rpoMs === null ? null : s.rpoMs / 1000)), samples.map(() => rpoTargetMs / 1000)], [t, samples, rpoTargetMs]);
  const thr = useMemo<uPlot.AlignedData>(() => [t, samples.map((s) => s.throughput)], [t, samples]);
  const queue = useMemo<uPlot.AlignedData>(() => [t, samples.map((s) => s.queueBytes)], [t, samples]);
  const rpoSeries = useMemo<uPlot.Series[]>(
    () => [{}, { label: "RPO (s)", stroke: cssColor("--c-accent"), width: 2, fill: cssColor("--c-accent-fill"), value: (_u, v) => (v === null ? "—" : `${v.toFixed(1)} s`) }, { label: "target", stroke: cssColor("--c-bad"), dash: [4, 4], value: (_u, v) => (v === null ? "—" : `${v} s`) }],
    [],
  );
  const thrSeries = useMemo<uPlot.Series[]>(() => [{}, { label: "throughput", stroke: cssColor("--c-ok"), width: 2, value: (_u, v) => (v === null ? "—" : `${bytes(v)}/s`) }], []);
  const qSeries = useMemo<uPlot.Series[]>(() => [{}, { label: "queue", stroke: cssColor("--c-warn"), width: 2, value: (_u, v) => (v === null ? "—" : bytes(v)) }], []);
  const secs = axis((v) => `${v} s`);
  const rateAxis = axis((v) => `${bytes(v)}/s`);
  const byteAxis = axis((v) => bytes(v));
  const zeroBased: uPlot.Scales = { x, y: { range: (_u, _min, max) => [0, Math.max(1, max) * 1.1] } };
  if (samples.length < 2) return <p className="muted" data-testid="charts-empty">No samples yet: the site samples each group every second and keeps the last hour (since its last start).</p>;
  return (
    <div className="charts" data-testid="charts" data-from={samples[0]!.t} data-samples={samples.length}>
      <figure>
        <figcaption>RPO against target</figcaption>
        <Chart title={`RPO of ${props.group}`} data={rpo} series={rpoSeries} axes={[timeAxis(), secs]} scales={{ x, y: { range: (_u, _min, max) => [0, Math.max(max, rpoTargetMs / 1000) * 1.15] } }} heightPx={160} />
      </figure>
      <figure>
        <figcaption>Throughput</figcaption>
        <Chart title={`Throughput of ${props.group}`} data={thr} series={thrSeries} axes={[timeAxis(), rateAxis]} scales={zeroBased} heightPx={160} />
      </figure>
      <figure>
        <figcaption>Queue depth (outgoing stream)</figcaption>
        <Chart title={`Queue of ${props.group}`} data={queue} series={qSeries} axes={[timeAxis(), byteAxis]} scales={zeroBased} heightPx={160} />
      </figure>
    </div>
  );
}
