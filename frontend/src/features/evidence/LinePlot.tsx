import { useMemo } from "react";
import { PlotlyChart } from "../../shared/PlotlyChart";

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
  const { data, layout } = useMemo(() => {
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
    const layout = {
      margin: { l: 52, r: 10, t: 26, b: 40 },
      xaxis: { title: { text: xTitle, font: { size: 11 } }, zeroline: false },
      yaxis: { title: { text: yTitle, font: { size: 11 } }, range: yRange, rangemode: fromZero ? "tozero" : "normal" },
      barmode: barmode ?? "stack",
      showlegend: series.length > 1,
      legend: { orientation: "h", x: 1, xanchor: "right", y: 1.02, yanchor: "bottom", font: { size: 10 } },
      shapes,
      annotations,
    };
    return { data, layout };
  }, [series, xTitle, yTitle, mark, markText, yRange, barmode, fromZero]);
  return <PlotlyChart data={data} layout={layout} height={height} className="evidence-plot" testid={testid} />;
}
