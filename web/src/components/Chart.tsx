/**
 * A uPlot chart that follows its container's width and takes new data
 * without being rebuilt (uPlot redraws in place; rebuilding each poll would
 * reset the user's zoom and cost more than the draw).
 */
import { useEffect, useRef } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export interface ChartProps {
  title: string;
  data: uPlot.AlignedData;
  series: uPlot.Series[];
  axes?: uPlot.Axis[];
  scales?: uPlot.Scales;
  heightPx?: number;
  /** A compact chart with no axes, legend or cursor. */
  spark?: boolean;
  bands?: uPlot.Band[];
  hooks?: uPlot.Hooks.Arrays;
}

export function Chart(props: ChartProps) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const { spark = false, heightPx = spark ? 36 : 180 } = props;

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const opts: uPlot.Options = {
      width: Math.max(80, el.clientWidth),
      height: heightPx,
      series: props.series,
      axes: spark ? [{ show: false }, { show: false }] : props.axes,
      scales: props.scales ?? {},
      legend: { show: !spark },
      cursor: spark ? { show: false } : { drag: { x: true, y: false } },
      ...(props.bands ? { bands: props.bands } : {}),
      ...(props.hooks ? { hooks: props.hooks } : {}),
      padding: spark ? [2, 0, 2, 0] : [8, 8, 0, 0],
    };
    const u = new uPlot(opts, props.data, el);
    plot.current = u;
    const ro = new ResizeObserver(() => u.setSize({ width: Math.max(80, el.clientWidth), height: heightPx }));
    ro.observe(el);
    return () => {
      ro.disconnect();
      u.destroy();
      plot.current = null;
    };
    // The chart is rebuilt only when its shape changes; data flows through setData below.
  }, [spark, heightPx, props.series.length]);

  useEffect(() => {
    plot.current?.setData(props.data, true);
  }, [props.data]);

  return <div ref={box} className={spark ? "chart spark" : "chart"} role="img" aria-label={props.title} />;
}
