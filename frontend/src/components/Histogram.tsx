import { useEffect, useRef, useState } from "react";
import type { Histogram as H } from "../api";

/** Activation histogram drawn with plotly (loaded on demand, so other pages stay light). */
export function Histogram({ hist, title, logY = true, height = 220, onReady }: { hist: H; title: string; logY?: boolean; height?: number; onReady?: () => void }) {
  const ready = useRef(onReady);
  ready.current = onReady;
  const el = useRef<HTMLDivElement>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    const node = el.current;
    import("plotly.js-basic-dist-min")
      .then(({ default: Plotly }) => {
        if (!live || !node) return;
        const centers = hist.counts.map((_, i) => (hist.edges[i] + hist.edges[i + 1]) / 2);
        const widths = hist.counts.map((_, i) => hist.edges[i + 1] - hist.edges[i]);
        return Plotly.react(
          node,
          [
            {
              type: "bar",
              x: centers,
              y: hist.counts.map((c) => (logY && c <= 0 ? null : c)),
              width: widths,
              marker: { color: centers.map((c) => (c >= 0 ? "#c0392b" : "#2c6fbb")) },
              hovertemplate: "%{x:.3g}: %{y}<extra></extra>",
            },
          ],
          {
            height,
            margin: { l: 48, r: 8, t: 24, b: 32 },
            title: { text: title, font: { size: 12 }, x: 0.01, xanchor: "left" },
            xaxis: { title: { text: "activation", font: { size: 11 } }, zeroline: true },
            yaxis: { type: logY ? "log" : "linear", title: { text: "count", font: { size: 11 } } },
            bargap: 0,
            paper_bgcolor: "rgba(0,0,0,0)",
            plot_bgcolor: "#fafafa",
            font: { size: 10 },
          },
          { displayModeBar: false, responsive: true },
        );
      })
      .then(() => live && ready.current?.())
      .catch((err) => live && setError(`Could not draw the histogram: ${err}`));
    return () => {
      live = false;
    };
  }, [hist, title, logY, height]);
  useEffect(() => {
    const node = el.current;
    return () => {
      if (node) import("plotly.js-basic-dist-min").then(({ default: Plotly }) => Plotly.purge(node)).catch(() => undefined);
    };
  }, []);
  if (error) return <div className="error-box">{error}</div>;
  return <div ref={el} className="histogram" style={{ minHeight: height }} data-testid="histogram" />;
}
