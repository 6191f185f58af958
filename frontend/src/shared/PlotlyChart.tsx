import { useEffect, useRef, useState } from "react";

/** Layout every chart shares (transparent paper, light plot area, small fonts); a chart's own layout wins. */
const BASE_LAYOUT = { paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "#fafafa", font: { size: 10 } };

/** The one plotly chart of the app: loads `plotly.js-basic-dist-min` on demand (1.2 MB instead of 4.8 MB;
 * bar, scatter and pie traces, so histograms are drawn as bars), draws `data` with `layout`, and purges the
 * chart on unmount. `onReady` fires once the chart is drawn (e.g. to swap out a placeholder). */
export function PlotlyChart({ data, layout, height, testid, className, onReady }: {
  data: unknown[];
  layout: Record<string, unknown>;
  height: number;
  testid?: string;
  className?: string;
  onReady?: () => void;
}) {
  const el = useRef<HTMLDivElement>(null);
  const ready = useRef(onReady);
  ready.current = onReady;
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    const node = el.current;
    import("plotly.js-basic-dist-min")
      .then(({ default: Plotly }) => {
        if (!live || !node) return;
        return Plotly.react(node, data, { ...BASE_LAYOUT, height, ...layout }, { displayModeBar: false, responsive: true });
      })
      .then(() => live && ready.current?.())
      .catch((err) => live && setError(`Could not draw the chart: ${err}`));
    return () => {
      live = false;
    };
  }, [data, layout, height]);
  useEffect(() => {
    const node = el.current;
    return () => {
      if (node) import("plotly.js-basic-dist-min").then(({ default: Plotly }) => Plotly.purge(node)).catch(() => undefined);
    };
  }, []);
  if (error) return <div className="error-box">{error}</div>;
  return <div ref={el} className={className} style={{ minHeight: height, width: "100%" }} data-testid={testid} />;
}
