import { useEffect, useState } from "react";
import { Link, useLocation, useNavigate, useParams } from "react-router-dom";
import { UnitAnnotationPanel } from "../annotate";
import { BorderFlag, mapSizeOf } from "./BorderFlag";
import { EnlargeLink } from "./EnlargeLink";
import { ExampleGrid } from "./ExampleGrid";
import { QuantileExamples } from "./QuantileExamples";
import { RgbKernel } from "./RgbKernel";
import { StatsSection } from "./StatsSection";
import { ComputeHint } from "./ComputeHint";
import { EmptyState, ErrorBox } from "../../shared/ErrorBox";
import { ConnectionList } from "./ConnectionList";
import { useKeys } from "../../shared/keys";
import { Loading } from "../../shared/Loading";
import { StatusBadge } from "../../shared/StatusBadge";
import { ConceptPanel } from "../concepts";
import { UnitImage } from "../../shared/UnitThumb";
import { LabelEvidencePanel, TuningCurves } from "../evidence";
import { UnitFidelityPanel } from "../fidelity/UnitFidelityPanel";
import { fmt } from "../../shared/format";
import { browseQueries, type FeatureVis, layerAbove, layerBelow, type UnitDetail } from "./browseApi";
import { pagePaths } from "../../shared/paths";
import { prefetch, useResource, useTitle } from "../../shared/useResource";

const OBJECTIVE_TEXT: Record<string, string> = {
  channel: "Channel (mean over positions)",
  neuron: "Neuron (centre position)",
  negative: "Negative (minimises the channel)",
  diversity: "Diversity",
  accentuation: "Accentuation (from the top example)",
};

/** One unit: renders, dataset examples, histogram, strongest inputs and outputs (Microscope + Circuits). */
export function UnitPage() {
  const { model = "", layer = "", index: indexParam = "" } = useParams();
  const navigate = useNavigate();
  // ↑/↓ clamp the index to the other layer's size; the index asked for travels along, so ↓ after ↑ returns to it
  const wanted = (useLocation().state as { unitIndex?: number } | null)?.unitIndex;
  const index = /^-?\d+$/.test(indexParam) ? Number(indexParam) : NaN;
  useTitle(`${layer}:${indexParam} · ${model}`);
  const { data: u, error, loading } = useResource(Number.isNaN(index) ? null : browseQueries.unit(model, layer, index));
  const [labelTick, setLabelTick] = useState(0); // a concept suggestion adopted: reload the annotation panel
  const [heatmap, setHeatmap] = useState(() => localStorage.getItem("cs.heatmap") === "1");
  const toggleHeatmap = () =>
    setHeatmap((h) => {
      localStorage.setItem("cs.heatmap", h ? "0" : "1");
      return !h;
    });

  const L = u?.layer;
  const above = L ? layerAbove(L) : null;
  const below = L ? layerBelow(L) : null;
  const go = {
    prev: () => L && index > 0 && navigate(pagePaths.unit(model, L.name, index - 1)),
    next: () => L && index < L.channels - 1 && navigate(pagePaths.unit(model, L.name, index + 1)),
    up: () => above && navigate(pagePaths.unit(model, above.name, Math.min(wanted ?? index, above.channels - 1)), { state: { unitIndex: wanted ?? index } }),
    down: () => below && navigate(pagePaths.unit(model, below.name, Math.min(wanted ?? index, below.channels - 1)), { state: { unitIndex: wanted ?? index } }),
    layer: () => navigate(pagePaths.layer(model, layer) + `#u${index}`),
  };
  useKeys({
    ArrowLeft: go.prev,
    ArrowRight: go.next,
    ArrowUp: go.up,
    ArrowDown: go.down,
    Escape: go.layer,
    h: toggleHeatmap,
  });

  // Warm the neighbours so keyboard navigation redraws at once.
  useEffect(() => {
    if (!L) return;
    if (index + 1 < L.channels) prefetch(browseQueries.unit(model, L.name, index + 1));
    if (index > 0) prefetch(browseQueries.unit(model, L.name, index - 1));
  }, [L, model, index]);

  if (Number.isNaN(index))
    return <ErrorBox error={new Error(`'${indexParam}' is not a unit index: unit indices are whole numbers (0, 1, 2, …).`)} title="Not a unit" />;
  if (loading && !u) return <Loading what={`Loading ${layer} unit ${index}`} />;
  if (error || !u)
    return (
      <ErrorBox error={error}>
        <p>
          <Link to={pagePaths.layer(model, layer)}>Back to the layer</Link> · <Link to={pagePaths.model(model)}>the model's layers</Link>
        </p>
      </ErrorBox>
    );

  const lyr = u.layer;
  return (
    <div className="unit-page" data-unit-index={u.index} data-layer={lyr.name}>
      <nav className="crumbs">
        <Link to="/">Models</Link> › <Link to={pagePaths.model(u.model)}>{u.model}</Link> ›{" "}
        <Link to={pagePaths.layer(u.model, lyr.name) + `#u${u.index}`}>{lyr.name}</Link> ›
      </nav>
      <div className="page-head">
        <h1>
          {lyr.name} <span className="unit-index">unit {u.index}</span>
          {u.label && <span className="unit-label">{u.label}</span>}
        </h1>
        <div className="unit-nav" aria-label="unit navigation">
          <button type="button" onClick={go.prev} disabled={u.index <= 0} title="previous unit (←)">
            ← {u.index > 0 ? u.index - 1 : ""}
          </button>
          <button type="button" onClick={go.next} disabled={u.index >= lyr.channels - 1} title="next unit (→)">
            {u.index < lyr.channels - 1 ? u.index + 1 : ""} →
          </button>
          <button type="button" onClick={go.up} disabled={!above} title={above ? `previous layer: ${above.name} (↑)` : "first layer"}>
            ↑ {above ? above.name : "layer"}
          </button>
          <button type="button" onClick={go.down} disabled={!below} title={below ? `next layer: ${below.name} (↓)` : "last layer"}>
            ↓ {below ? below.name : "layer"}
          </button>
          <button type="button" onClick={go.layer} title="the layer grid (Esc)">
            grid
          </button>
        </div>
      </div>
      <p className="muted small">
        {u.model_name} · {lyr.module_type} · {lyr.channels} units · <StatusBadge kind="layer" status={lyr.status} progress={lyr.progress} stages={lyr.stages} /> · keys: ←/→ unit, ↑/↓ layer, Esc grid, h heatmaps
      </p>

      {!u.computed ? (
        <EmptyState title={`Nothing computed for ${lyr.name} unit ${u.index} yet`}>
          <ComputeHint intro="Compute this layer with:" command={lyr.compute_command} />
        </EmptyState>
      ) : (
        <>
          {lyr.status !== "done" && (
            <div className="notice">
              This layer is {lyr.status === "running" ? "being computed" : "only partly computed"}; some records may be missing. To finish it:{" "}
              <code>{lyr.compute_command}</code>
            </div>
          )}
          <div className="unit-columns">
            <div className="unit-main">
              <FeatureVisSection fvs={u.feature_vis} top={u.stats.top_activation} command={lyr.compute_command} />
              <UnitFidelityPanel model={u.model} layer={lyr.name} index={u.index} />
              <ExamplesSection key={`${u.layer.name}:${u.index}`} u={u} heatmap={heatmap} onToggle={toggleHeatmap} />
              <TuningCurves model={u.model} layer={lyr.name} index={u.index} />
            </div>
            <aside className="unit-side">
              <section className="panel annotation-section" aria-label="annotations">
                <h2>Annotations</h2>
                {u.id !== null ? (
                  <UnitAnnotationPanel key={labelTick} modelSlug={u.model} layerName={lyr.name} unitIndex={u.index} unitId={u.id} />
                ) : null}
                {u.label && (
                  <p className="small">
                    Consensus label: <span className="consensus-label">{u.label}</span>
                  </p>
                )}
              </section>
              <ConceptPanel model={u.model} layer={lyr.name} index={u.index} data={u} onAdopted={() => setLabelTick((t) => t + 1)} />
              <LabelEvidencePanel model={u.model} layer={lyr.name} index={u.index} labelKey={u.label} />
              <StatsSection u={u} />
            </aside>
          </div>
          <section className="panel circuit" aria-label="connections">
            <h2>Circuit: strongest connections</h2>
            <p className="muted small">
              Ranked by the L2 norm of the weight kernel; signed strength = sum of the kernel (red excites, blue inhibits). Faded: under 30% of
              the strongest.
            </p>
            {u.input_kernel && <RgbKernel kernel={u.input_kernel} />}
            <div className="circuit-columns">
              <ConnectionList title="Inputs" rows={u.incoming} empty={u.input_kernel ? "Its inputs are the image's channels: see the weights on the image above." : lyr.prev ? "No input weights stored for this unit." : "First layer: no input units."} testid="incoming" model={u.model} />
              <ConnectionList title="Outputs" rows={u.outgoing} empty={lyr.next ? "No output weights stored for this unit." : "Last layer: no output units."} testid="outgoing" model={u.model} />
            </div>
          </section>
        </>
      )}
    </div>
  );
}

function FeatureVisSection({ fvs, top, command }: { fvs: FeatureVis[]; top: number | null | undefined; command: string }) {
  if (!fvs.length)
    return (
      <section className="panel">
        <h2>Feature visualization</h2>
        <EmptyState title="No renders for this unit yet">
          <ComputeHint command={command} />
        </EmptyState>
      </section>
    );
  return (
    <section className="panel" aria-label="feature visualization">
      <h2>Feature visualization</h2>
      <div className="fv-row">
        {fvs.map((f) => (
          <figure key={`${f.objective}-${f.variant}`} className={`fv fv-${f.objective}`}>
            <EnlargeLink image={f.image} title={`${OBJECTIVE_TEXT[f.objective] ?? f.objective} render${f.objective === "diversity" ? ` ${f.variant + 1}` : ""}`}>
              <UnitImage image={f.image} size={f.objective === "channel" ? 192 : 128} lazy={false} alt={`${f.objective} render ${f.variant}`} />
            </EnlargeLink>
            <figcaption>
              <span>
                {OBJECTIVE_TEXT[f.objective] ?? f.objective}
                {f.objective === "diversity" ? ` ${f.variant + 1}` : ""}
              </span>
              <span
                className="muted"
                title={
                  "act: what the render reaches on its objective (channel mean; neuron: centre value; negative: " +
                  "channel mean before the ReLU when the layer ends in one). peak: the render's spatial max, " +
                  "compared with the best dataset example's activation (also a spatial max)"
                }
              >
                act {fmt(f.activation, 2)}
                {f.peak != null ? ` · peak ${fmt(f.peak, 2)}` : ""}
                {f.peak != null && top ? ` (${(f.peak / top).toFixed(1)}× top example)` : ""}
              </span>
            </figcaption>
          </figure>
        ))}
      </div>
    </section>
  );
}

/** The API returns at most this many examples of each kind per request. */
const MAX_EXAMPLES = 100;

function ExamplesSection({ u: shown, heatmap, onToggle }: { u: UnitDetail; heatmap: boolean; onToggle: () => void }) {
  const mapSize = mapSizeOf(shown.layer.output_shape);
  // "show all": the same unit again with every stored top / bottom example (the API caps a request at 100)
  const stored = Math.min(MAX_EXAMPLES, Math.max(shown.examples_stored?.top ?? 0, shown.examples_stored?.bottom ?? 0));
  const [all, setAll] = useState(false);
  const more = useResource(all ? browseQueries.unit(shown.model, shown.layer.name, shown.index, stored) : null);
  const u = all && more.data && more.data.index === shown.index && more.data.layer.name === shown.layer.name ? more.data : shown;
  const hidden = stored > Math.max(u.top.length, u.bottom.length);
  return (
    <section className="panel" aria-label="dataset examples">
      <div className="panel-head">
        <h2>Dataset examples</h2>
        <label className="toggle">
          <input type="checkbox" checked={heatmap} onChange={onToggle} data-testid="heatmap-toggle" /> activation heatmap (h)
        </label>
      </div>
      <BorderFlag top={shown.top} mapSize={mapSize} />
      <ExampleGrid title="Top" rows={u.top} heatmap={heatmap} kind="top" inputSize={u.input_size} mapSize={mapSize} />
      <ExampleGrid
        title="Bottom"
        rows={u.bottom}
        heatmap={heatmap}
        kind="bottom"
        inputSize={u.input_size}
        mapSize={mapSize}
        note={
          // Below the layer's own minimum: the engine ranked these by the input of the layer's final ReLU.
          (u.stats.min ?? 0) >= 0 && u.bottom.some((r) => r.activation < 0) ? "pre-ReLU values (most negative input to the final ReLU)" : undefined
        }
      />
      {hidden && (
        <p className="small">
          <button type="button" data-testid="show-all-examples" disabled={more.loading} onClick={() => setAll(true)}>
            {more.loading ? "loading…" : `show all ${stored}`}
          </button>{" "}
          <span className="muted">
            {u.top.length} of {shown.examples_stored?.top ?? 0} top and {u.bottom.length} of {shown.examples_stored?.bottom ?? 0} bottom examples stored are shown
          </span>
        </p>
      )}
      {more.error && <ErrorBox error={more.error} title="Could not load more examples" />}
      <QuantileExamples rows={shown.quantile ?? []} heatmap={heatmap} inputSize={shown.input_size} mapSize={mapSize} />
    </section>
  );
}
