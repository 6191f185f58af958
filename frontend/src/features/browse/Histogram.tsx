import { useMemo } from "react";
import { PlotlyChart } from "../../shared/PlotlyChart";
import { type Histogram as H } from "./browseApi";

/** Activation histogram drawn with plotly (loaded on demand, so other pages stay light). */
export function Histogram({ hist, title, logY = true, height = 220, onReady }: { hist: H; title: string; logY?: boolean; height?: number; onReady?: () => void }) {
  const data = useMemo(() => {
    const centers = hist.counts.map((_, i) => (hist.edges[i] + hist.edges[i + 1]) / 2);
    const widths = hist.counts.map((_, i) => hist.edges[i + 1] - hist.edges[i]);
    return [
      {
        type: "bar",
        x: centers,
        y: hist.counts.map((c) => (logY && c <= 0 ? null : c)),
        width: widths,
        marker: { color: centers.map((c) => (c >= 0 ? "#c0392b" : "#2c6fbb")) },
        hovertemplate: "%{x:.3g}: %{y}<extra></extra>",
      },
    ];
  }, [hist, logY]);
  const layout = useMemo(
    () => ({
      margin: { l: 48, r: 8, t: 24, b: 32 },
      title: { text: title, font: { size: 12 }, x: 0.01, xanchor: "left" },
      xaxis: { title: { text: "activation", font: { size: 11 } }, zeroline: true },
      yaxis: { type: logY ? "log" : "linear", title: { text: "count", font: { size: 11 } } },
      bargap: 0,
    }),
    [title, logY],
  );
  return <PlotlyChart data={data} layout={layout} height={height} className="histogram" testid="histogram" onReady={onReady} />;
}
