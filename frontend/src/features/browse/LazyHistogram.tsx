import { useState } from "react";
import { Histogram } from "./Histogram";
import { type Histogram as H } from "./browseApi";

/** The histogram at once as a plain SVG (no chart library), replaced by the interactive plotly chart when
 * that has loaded: on a slow connection the box is never blank. */
export function LazyHistogram({ hist, title, height = 220 }: { hist: H; title: string; height?: number }) {
  const [ready, setReady] = useState(false);
  return (
    <div className="lazy-histogram" style={{ position: "relative", minHeight: height }}>
      {!ready && <SvgHistogram hist={hist} title={title} height={height} />}
      <div style={ready ? undefined : { position: "absolute", inset: 0, visibility: "hidden" }}>
        <Histogram hist={hist} title={title} height={height} onReady={() => setReady(true)} />
      </div>
    </div>
  );
}

/** A static log-count bar chart of the histogram: the placeholder while plotly loads. */
export function SvgHistogram({ hist, title, height }: { hist: H; title: string; height: number }) {
  const W = 360;
  const pad = { l: 8, r: 8, t: 22, b: 18 };
  const n = hist.counts.length;
  const logs = hist.counts.map((c) => (c > 0 ? Math.log10(c) + 1 : 0));
  const top = Math.max(1e-9, ...logs);
  const lo = hist.edges[0];
  const hi = hist.edges[n];
  const x = (v: number) => pad.l + ((v - lo) / (hi - lo || 1)) * (W - pad.l - pad.r);
  const plotH = height - pad.t - pad.b;
  return (
    <svg className="histogram-placeholder" data-testid="histogram-placeholder" viewBox={`0 0 ${W} ${height}`} width="100%" height={height} role="img" aria-label={`${title} (loading the interactive chart)`}>
      <text x={pad.l} y={14} fontSize={11} fill="#444">
        {title}
      </text>
      <text x={W - pad.r} y={14} fontSize={10} fill="#888" textAnchor="end">
        loading interactive chart…
      </text>
      {hist.counts.map((c, i) => {
        const h = (logs[i] / top) * plotH;
        const mid = (hist.edges[i] + hist.edges[i + 1]) / 2;
        return c > 0 ? (
          <rect key={i} x={x(hist.edges[i])} y={pad.t + plotH - h} width={Math.max(0.5, x(hist.edges[i + 1]) - x(hist.edges[i]))} height={h} fill={mid >= 0 ? "#c0392b" : "#2c6fbb"} />
        ) : null;
      })}
      <line x1={pad.l} x2={W - pad.r} y1={pad.t + plotH} y2={pad.t + plotH} stroke="#999" />
      <text x={pad.l} y={height - 4} fontSize={10} fill="#666">
        {lo.toPrecision(3)}
      </text>
      <text x={W - pad.r} y={height - 4} fontSize={10} fill="#666" textAnchor="end">
        {hi.toPrecision(3)}
      </text>
    </svg>
  );
}
