import { useMemo, useState } from "react";
import { PlotlyChart } from "../../shared/PlotlyChart";
import { useResource } from "../../shared/useResource";
import { conceptColour, conceptQueries, type LayerConcepts } from "./conceptApi";

const THRESHOLDS = [0.7, 0.8, 0.9, 0.95];

/** State for the layer grid: colour cells by their best concept (AUC >= threshold), filter by one. */
export function useLayerConcepts(model: string, layer: string, enabled: boolean) {
  const [on, setOn] = useState(() => localStorage.getItem("cs.conceptColours") === "1");
  const [threshold, setThreshold] = useState(0.9);
  const [only, setOnly] = useState<string | null>(null);
  const { data } = useResource(enabled && model && layer ? conceptQueries.layer(model, layer, threshold) : null);
  const best = new Map((data?.units ?? []).map((u) => [u.index, u]));
  const selective = (index: number) => {
    const b = best.get(index);
    return b && b.auc >= threshold ? b : undefined;
  };
  return {
    data,
    on,
    setOn: (v: boolean) => {
      localStorage.setItem("cs.conceptColours", v ? "1" : "0");
      setOn(v);
      if (!v) setOnly(null);
    },
    threshold,
    setThreshold,
    only,
    setOnly,
    /** Cell colour when colouring by concept is on. */
    colourOf: (index: number) => {
      const b = on ? selective(index) : undefined;
      return b ? conceptColour(b.concept) : undefined;
    },
    titleOf: (index: number) => {
      const b = best.get(index);
      return b ? `best concept: ${b.display} (AUC ${b.auc.toFixed(2)})` : undefined;
    },
    /** False for cells hidden by the concept filter. */
    keep: (index: number) => !only || selective(index)?.concept === only,
  };
}

export type LayerConceptState = ReturnType<typeof useLayerConcepts>;

/** Toggle, threshold, legend (click a concept to show only its units) and the per-layer summary chart. */
export function ConceptLayerTools({ state }: { state: LayerConceptState }) {
  const { data, on, setOn, threshold, setThreshold, only, setOnly } = state;
  if (!data) return null;
  const status = data.concept_status;
  if (status.status !== "scored")
    return (
      <span className="muted small" data-testid="layer-concept-status" title={status.reason ?? ""}>
        concepts: {status.status === "none" ? "this dataset provides none" : "not scored"}
      </span>
    );
  return (
    <div className="concept-tools" data-testid="concept-tools">
      <label>
        <input type="checkbox" checked={on} onChange={(e) => setOn(e.target.checked)} /> colour by best concept
      </label>
      {on && (
        <>
          <label>
            AUC ≥{" "}
            <select aria-label="AUC threshold" value={threshold} onChange={(e) => setThreshold(Number(e.target.value))}>
              {THRESHOLDS.map((t) => (
                <option key={t} value={t}>
                  {t}
                </option>
              ))}
            </select>
          </label>
          <span className="muted small">
            {data.selective_units} of {data.scored_units} units selective
          </span>
          <span className="family-legend">
            {data.by_concept.slice(0, 16).map((c) => (
              <button
                type="button"
                key={c.concept}
                className={`family-chip small ${only === c.concept ? "active" : ""}`}
                style={{ borderColor: conceptColour(c.concept) }}
                onClick={() => setOnly(only === c.concept ? null : c.concept)}
                title={`${c.concept}: ${c.units} units; click to show only these`}
              >
                <span className="swatch" style={{ background: conceptColour(c.concept) }} />
                {c.display} <span className="muted">{c.units}</span>
              </button>
            ))}
          </span>
          <LayerConceptChart data={data} />
        </>
      )}
    </div>
  );
}

/** Network Dissection's summary: how many units of the layer are selective for each concept. */
export function LayerConceptChart({ data, height }: { data: LayerConcepts; height?: number }) {
  const rows = data.by_concept.slice(0, 24);
  const h = height ?? Math.max(120, 40 + rows.length * 18);
  const chart = useMemo(() => {
    const ordered = [...data.by_concept.slice(0, 24)].reverse();
    return {
      traces: [
        {
          type: "bar",
          orientation: "h",
          y: ordered.map((r) => r.display),
          x: ordered.map((r) => r.units),
          marker: { color: ordered.map((r) => conceptColour(r.concept)) },
          hovertemplate: "%{y}: %{x} units<extra></extra>",
        },
      ],
      layout: {
        margin: { l: 150, r: 12, t: 26, b: 30 },
        title: { text: `${data.layer}: units whose best concept has AUC ≥ ${data.threshold}`, font: { size: 12 }, x: 0.01, xanchor: "left" },
        xaxis: { title: { text: "units", font: { size: 11 } }, rangemode: "tozero", dtick: (ordered[ordered.length - 1]?.units ?? 0) > 10 ? undefined : 1 },
      },
    };
  }, [data]);
  if (!rows.length) return <p className="muted small">No unit of {data.layer} reaches AUC {data.threshold} for any concept.</p>;
  return <PlotlyChart data={chart.traces} layout={chart.layout} height={h} className="concept-chart" testid="concept-chart" />;
}
