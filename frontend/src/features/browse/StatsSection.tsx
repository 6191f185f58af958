import { useState } from "react";
import { LazyHistogram } from "./LazyHistogram";
import { fmt } from "../../shared/format";
import { type Histogram as H, type UnitDetail } from "./browseApi";

/** Summary statistics of a distribution known only through its histogram (bin centres stand in for the values). */
export function histogramStats(h: H): { n: number; mean: number; std: number; min: number; max: number; active: number; quantiles: [number, number][] } | null {
  const n = h.counts.reduce((a, b) => a + b, 0);
  if (!n) return null;
  const centres = h.counts.map((_, i) => (h.edges[i] + h.edges[i + 1]) / 2);
  const mean = centres.reduce((a, c, i) => a + c * h.counts[i], 0) / n;
  const variance = centres.reduce((a, c, i) => a + (c - mean) ** 2 * h.counts[i], 0) / n;
  const first = h.counts.findIndex((c) => c > 0);
  const last = h.counts.length - 1 - [...h.counts].reverse().findIndex((c) => c > 0);
  const positive = h.counts.reduce((a, c, i) => a + (h.edges[i] >= 0 && h.edges[i + 1] > 0 ? c : 0), 0);
  const quantile = (q: number) => {
    let seen = 0;
    for (let i = 0; i < h.counts.length; i++) {
      if (seen + h.counts[i] >= q * n) {
        const within = h.counts[i] ? (q * n - seen) / h.counts[i] : 0;
        return h.edges[i] + within * (h.edges[i + 1] - h.edges[i]);
      }
      seen += h.counts[i];
    }
    return h.edges[h.edges.length - 1];
  };
  return {
    n,
    mean,
    std: Math.sqrt(variance),
    min: h.edges[first],
    max: h.edges[last + 1],
    active: positive / n,
    quantiles: [0.5, 0.9, 0.99].map((q) => [q, quantile(q)]),
  };
}

/** Activation histogram and statistics; the table follows the "all positions / per-image max" switch. */
export function StatsSection({ u }: { u: UnitDetail }) {
  const [perImage, setPerImage] = useState(false);
  const s = u.stats;
  const hist = perImage ? s.max_histogram : s.histogram;
  const q = s.quantiles ? Object.entries(s.quantiles).sort((a, b) => Number(a[0]) - Number(b[0])) : [];
  const m = perImage && s.max_histogram ? histogramStats(s.max_histogram) : null;
  return (
    <section className="panel" aria-label="activation statistics">
      <div className="panel-head">
        <h2>Activations</h2>
        {s.histogram && s.max_histogram && (
          <span className="seg">
            <button type="button" className={`small ${!perImage ? "active" : ""}`} aria-pressed={!perImage} onClick={() => setPerImage(false)}>
              all positions
            </button>
            <button type="button" className={`small ${perImage ? "active" : ""}`} aria-pressed={perImage} onClick={() => setPerImage(true)}>
              per-image max
            </button>
          </span>
        )}
      </div>
      {hist ? (
        <LazyHistogram hist={hist} title={perImage ? "per-image spatial maximum" : "every position of every image"} />
      ) : (
        <p className="muted small">No histogram stored (computed with the dataset examples).</p>
      )}
      {m ? (
        <table className="stats" data-testid="stats-table" data-stats="per-image-max">
          <caption className="small muted">per-image spatial max over {m.n.toLocaleString()} images (from the histogram's bins)</caption>
          <tbody>
            <tr>
              <th>mean</th>
              <td>{fmt(m.mean)}</td>
              <th>std</th>
              <td>{fmt(m.std)}</td>
            </tr>
            <tr>
              <th>min</th>
              <td>≥ {fmt(m.min)}</td>
              <th>max</th>
              <td>≤ {fmt(m.max)}</td>
            </tr>
            <tr>
              <th title="fraction of images whose maximum is > 0">active</th>
              <td>{`${(m.active * 100).toFixed(1)}%`}</td>
              <th>top example</th>
              <td>{fmt(s.top_activation)}</td>
            </tr>
            <tr>
              <th>quantiles</th>
              <td colSpan={3} className="mono small">
                {m.quantiles.map(([k, v]) => `q${k}: ≈${fmt(v)}`).join(" · ")}
              </td>
            </tr>
          </tbody>
        </table>
      ) : (
        <table className="stats" data-testid="stats-table" data-stats="all-positions">
          <caption className="small muted">every position of every image</caption>
          <tbody>
            <tr>
              <th>mean</th>
              <td>{fmt(s.mean)}</td>
              <th>std</th>
              <td>{fmt(s.std)}</td>
            </tr>
            <tr>
              <th>min</th>
              <td>{fmt(s.min)}</td>
              <th>max</th>
              <td>{fmt(s.max)}</td>
            </tr>
            <tr>
              <th title="fraction of positions > 0">active</th>
              <td>{s.sparsity == null ? "–" : `${(s.sparsity * 100).toFixed(1)}%`}</td>
              <th>top example</th>
              <td>{fmt(s.top_activation)}</td>
            </tr>
            {q.length > 0 && (
              <tr>
                <th>quantiles</th>
                <td colSpan={3} className="mono small">
                  {q.map(([k, v]) => `q${k}: ${fmt(Number(v))}`).join(" · ")}
                </td>
              </tr>
            )}
          </tbody>
        </table>
      )}
    </section>
  );
}
