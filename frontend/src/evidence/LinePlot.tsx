import { useEffect, useRef, useState } from "react";

export interface Series {
  x: (number | string)[];
  y: (number | null)[];
  name?: string;
  type?: "line" | "bar";
  color?: string | string[];
  stack?: boolean;
}

/** A small plotly chart (loaded on demand): lines with markers or (stacked) bars, an optional marked x value. */
export function Plot({ series, xTitle, yTitle, mark, markText, height = 220, testid, yRange, barmode, fromZero }: {
  series: Series[];
  xTitle: string;
  yTitle: string;
  mark?: number | null;
  markText?: string;
  height?: number;
  testid?: string;
  yRange?: [number, number];
  barmode?: "stack" | "group";
  fromZero?: boolean;
}) {
  const el = useRef<HTMLDivElement>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    const node = el.current;
    import("plotly.js-basic-dist-min")
      .then(({ default: Plotly }) => {
        if (!live || !node) return;
        const data = series.map((s) =>
          s.type === "bar"
            ? { type: "bar", x: s.x, y: s.y, name: s.name, marker: { color: s.color } }
            : { type: "scatter", mode: "lines+markers", x: s.x, y: s.y, name: s.name, line: { color: typeof s.color === "string" ? s.color : "#1a5fb4", width: 2 },
                marker: { size: 5, color: s.color ?? "#1a5fb4" } },
        );
        const shapes = mark === null || mark === undefined ? [] : [
          { type: "line", x0: mark, x1: mark, yref: "paper", y0: 0, y1: 1, line: { color: "#b3261e", dash: "dash", width: 1.5 } },
        ];
        const annotations = mark === null || mark === undefined ? [] : [
          { x: mark, yref: "paper", y: 1, text: markText ?? `preferred ${mark}`, showarrow: false, yanchor: "bottom", font: { size: 11, color: "#b3261e" } },
        ];
        return Plotly.react(
          node,
          data,
          {
            height,
            margin: { l: 52, r: 10, t: 26, b: 40 },
            xaxis: { title: { text: xTitle, font: { size: 11 } }, zeroline: false },
            yaxis: { title: { text: yTitle, font: { size: 11 } }, range: yRange, rangemode: fromZero ? "tozero" : "normal" },
            barmode: barmode ?? "stack",
            showlegend: series.length > 1,
            legend: { orientation: "h", x: 1, xanchor: "right", y: 1.02, yanchor: "bottom", font: { size: 10 } },
            shapes,
            annotations,
            paper_bgcolor: "rgba(0,0,0,0)",
            plot_bgcolor: "#fafafa",
            font: { size: 10 },
          },
          { displayModeBar: false, responsive: true },
        );
      })
      .catch((err) => live && setError(`Could not draw the chart: ${err}`));
    return () => {
      live = false;
    };
  }, [series, xTitle, yTitle, mark, markText, height, yRange, barmode, fromZero]);
  useEffect(() => {
    const node = el.current;
    return () => {
      if (node) import("plotly.js-basic-dist-min").then(({ default: Plotly }) => Plotly.purge(node)).catch(() => undefined);
    };
  }, []);
  if (error) return <div className="error-box">{error}</div>;
  return <div ref={el} className="evidence-plot" style={{ minHeight: height }} data-testid={testid} />;
}
