import { useEffect, useState } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import { UnitAnnotationPanel } from "../annotate";
import { apiPaths, fmt, layerAbove, layerBelow, pagePaths, prefetch, type ConnectionOut, type Example, type FeatureVis, type UnitDetail } from "../api";
import { ComputeHint } from "../components/ComputeHint";
import { EmptyState, ErrorBox } from "../components/ErrorBox";
import { Histogram } from "../components/Histogram";
import { KernelHeatmap } from "../components/KernelHeatmap";
import { useKeys } from "../components/keys";
import { Loading } from "../components/Loading";
import { StatusBadge } from "../components/StatusBadge";
import { UnitImage, UnitThumb } from "../components/UnitThumb";
import { useApi, useTitle } from "../components/useApi";
import { UnitFidelityPanel } from "../fidelity/UnitFidelityPanel";

const OBJECTIVE_TEXT: Record<string, string> = {
  channel: "Channel (mean over positions)",
  neuron: "Neuron (centre position)",
  negative: "Negative (minimises the channel)",
  diversity: "Diversity",
};

/** One unit: renders, dataset examples, histogram, strongest inputs and outputs (Microscope + Circuits). */
export function UnitPage() {
  const { model = "", layer = "", index: indexParam = "" } = useParams();
  const navigate = useNavigate();
  const index = /^-?\d+$/.test(indexParam) ? Number(indexParam) : NaN;
  useTitle(`${layer}:${indexParam} · ${model}`);
  const url = Number.isNaN(index) ? null : apiPaths.unit(model, layer, index);
  const { data: u, error, loading } = useApi<UnitDetail>(url);
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
    up: () => above && navigate(pagePaths.unit(model, above.name, Math.min(index, above.channels - 1))),
    down: () => below && navigate(pagePaths.unit(model, below.name, Math.min(index, below.channels - 1))),
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
    if (index + 1 < L.channels) prefetch(apiPaths.unit(model, L.name, index + 1));
    if (index > 0) prefetch(apiPaths.unit(model, L.name, index - 1));
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
        {u.model_name} · {lyr.module_type} · {lyr.channels} units · <StatusBadge status={lyr.status} progress={lyr.progress} /> · keys: ←/→ unit, ↑/↓ layer, Esc grid, h heatmaps
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
              <ExamplesSection u={u} heatmap={heatmap} onToggle={toggleHeatmap} />
            </div>
            <aside className="unit-side">
              <section className="panel annotation-section" aria-label="annotations">
                <h2>Annotations</h2>
                {u.id !== null ? (
                  <UnitAnnotationPanel modelSlug={u.model} layerName={lyr.name} unitIndex={u.index} unitId={u.id} />
                ) : null}
                {u.label && (
                  <p className="small">
                    Consensus label: <span className="consensus-label">{u.label}</span>
                  </p>
                )}
              </section>
              <StatsSection u={u} />
            </aside>
          </div>
          <section className="panel circuit" aria-label="connections">
            <h2>Circuit: strongest connections</h2>
            <p className="muted small">
              Ranked by the L2 norm of the weight kernel; signed strength = sum of the kernel (red excites, blue inhibits). Faded: under 30% of
              the strongest.
            </p>
            <div className="circuit-columns">
              <ConnectionList title="Inputs" rows={u.incoming} empty={lyr.prev ? "No input weights stored for this unit." : "First layer: no input units."} testid="incoming" model={u.model} />
              <ConnectionList title="Outputs" rows={u.outgoing} empty={lyr.next ? "No output weights stored for this unit." : "Last layer: no output units."} testid="outgoing" model={u.model} />
            </div>
          </section>
        </>
      )}
    </div>
  );
}

function FeatureVisSection({ fvs, top, command }: { fvs: FeatureVis[]; top: number | null; command: string }) {
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
            <a href={f.image} target="_blank" rel="noreferrer">
              <UnitImage image={f.image} size={f.objective === "channel" ? 192 : 128} lazy={false} alt={`${f.objective} render ${f.variant}`} />
            </a>
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

function ExamplesSection({ u, heatmap, onToggle }: { u: UnitDetail; heatmap: boolean; onToggle: () => void }) {
  return (
    <section className="panel" aria-label="dataset examples">
      <div className="panel-head">
        <h2>Dataset examples</h2>
        <label className="toggle">
          <input type="checkbox" checked={heatmap} onChange={onToggle} data-testid="heatmap-toggle" /> activation heatmap (h)
        </label>
      </div>
      <ExampleGrid title="Top" rows={u.top} heatmap={heatmap} kind="top" inputSize={u.input_size} />
      <ExampleGrid
        title="Bottom"
        rows={u.bottom}
        heatmap={heatmap}
        kind="bottom"
        inputSize={u.input_size}
        note={
          // Below the layer's own minimum: the engine ranked these by the input of the layer's final ReLU.
          (u.stats.min ?? 0) >= 0 && u.bottom.some((r) => r.activation < 0) ? "pre-ReLU values (most negative input to the final ReLU)" : undefined
        }
      />
    </section>
  );
}

const EX = 88;

/** Dataset examples: the receptive-field crop, or (heatmap on) the whole image with the activation
 * overlay and the crop's box outlined. */
function ExampleGrid({
  title,
  rows,
  heatmap,
  kind,
  inputSize,
  note,
}: {
  title: string;
  rows: Example[];
  heatmap: boolean;
  kind: string;
  inputSize: number;
  note?: string;
}) {
  return (
    <div className={`examples examples-${kind}`}>
      <h3>
        {title}{" "}
        <span className="muted small">
          {rows.length ? `${rows.length} images · activation at (y, x) of the activation map · ${heatmap ? "whole image, overlay: red +, blue −" : "receptive-field crop"}` : ""}
          {note ? ` · ${note}` : ""}
        </span>
      </h3>
      {rows.length === 0 ? (
        <p className="muted small">No {kind} examples stored.</p>
      ) : (
        <div className="example-grid">
          {rows.map((ex) => (
            <figure key={`${ex.kind}-${ex.rank}`} className="example" title={`${ex.ref}${ex.label ? ` (${ex.label})` : ""} · position y=${ex.y}, x=${ex.x}`}>
              <a href={ex.image} target="_blank" rel="noreferrer" className="example-img">
                {heatmap ? (
                  <>
                    <img src={ex.image} width={EX} height={EX} alt={`${kind} example ${ex.rank + 1}, whole image`} decoding="async" />
                    <img className="overlay" src={ex.heatmap} width={EX} height={EX} alt="" aria-hidden="true" />
                    {ex.box.length === 4 && inputSize > 0 && (
                      <span
                        className="rf-box"
                        style={{
                          left: `${(100 * ex.box[0]) / inputSize}%`,
                          top: `${(100 * ex.box[1]) / inputSize}%`,
                          width: `${(100 * (ex.box[2] - ex.box[0])) / inputSize}%`,
                          height: `${(100 * (ex.box[3] - ex.box[1])) / inputSize}%`,
                        }}
                      />
                    )}
                  </>
                ) : (
                  <img src={ex.crop} width={EX} height={EX} alt={`${kind} example ${ex.rank + 1}`} loading="lazy" decoding="async" />
                )}
              </a>
              <figcaption>
                <span className={ex.activation >= 0 ? "pos" : "neg"}>{fmt(ex.activation, 2)}</span>
                <span className="muted">
                  ({ex.y},{ex.x})
                </span>
                {ex.label && <span className="ex-label">{ex.label}</span>}
              </figcaption>
            </figure>
          ))}
        </div>
      )}
    </div>
  );
}

function StatsSection({ u }: { u: UnitDetail }) {
  const [perImage, setPerImage] = useState(false);
  const s = u.stats;
  const hist = perImage ? s.max_histogram : s.histogram;
  const q = s.quantiles ? Object.entries(s.quantiles).sort((a, b) => Number(a[0]) - Number(b[0])) : [];
  return (
    <section className="panel" aria-label="activation statistics">
      <div className="panel-head">
        <h2>Activations</h2>
        {s.histogram && s.max_histogram && (
          <span className="seg">
            <button type="button" className={`small ${!perImage ? "active" : ""}`} onClick={() => setPerImage(false)}>
              all positions
            </button>
            <button type="button" className={`small ${perImage ? "active" : ""}`} onClick={() => setPerImage(true)}>
              per-image max
            </button>
          </span>
        )}
      </div>
      {hist ? (
        <Histogram hist={hist} title={perImage ? "per-image spatial maximum" : "every position of every image"} />
      ) : (
        <p className="muted small">No histogram stored (computed with the dataset examples).</p>
      )}
      <table className="stats">
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
            <td>{s.sparsity === null ? "–" : `${(s.sparsity * 100).toFixed(1)}%`}</td>
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
    </section>
  );
}

const INITIAL_CONNECTIONS = 12;

function ConnectionList({ title, rows, empty, testid, model }: { title: string; rows: ConnectionOut[]; empty: string; testid: string; model: string }) {
  const [all, setAll] = useState(false);
  const shown = all ? rows : rows.slice(0, INITIAL_CONNECTIONS);
  const scale = Math.max(1e-12, ...rows.flatMap((r) => (r.kernel as unknown[]).flat(2) as number[]).map((v) => Math.abs(v)));
  return (
    <div className="connections" data-testid={testid}>
      <h3>
        {title} <span className="muted small">{rows.length ? `${rows.length} strongest` : ""}</span>
      </h3>
      {rows.length === 0 ? (
        <p className="muted small">{empty}</p>
      ) : (
        <>
          <div className="conn-grid">
            {shown.map((c) => (
              <div key={c.unit.id} className={`conn ${c.relative < 0.3 ? "weak" : ""}`} data-conn-layer={c.unit.layer} data-conn-index={c.unit.index}>
                <UnitThumb model={c.unit.model} layer={c.unit.layer} index={c.unit.index} image={c.unit.image} label={c.unit.label} size={64} />
                <div className="conn-info">
                  <span className="conn-layer mono" title={`${c.unit.model} / ${c.unit.layer}`}>
                    {c.unit.model !== model ? `${c.unit.model}/` : ""}
                    {c.unit.layer}
                  </span>
                  <span className="conn-weights">
                    <KernelHeatmap kernel={c.kernel} size={40} scale={scale} />
                    <span className="conn-nums">
                      <span className={c.strength >= 0 ? "pos" : "neg"} title="signed strength: sum of the kernel">
                        {c.strength >= 0 ? "+" : "−"}
                        {fmt(Math.abs(c.strength), 3)}
                      </span>
                      <span className="muted small" title="L2 norm of the kernel, and its share of the strongest">
                        ‖w‖ {fmt(c.l2, 2)}
                      </span>
                      <span className="muted small">{Math.round(c.relative * 100)}%</span>
                    </span>
                  </span>
                  {c.kind !== "direct" && <span className="badge">{c.kind}</span>}
                </div>
              </div>
            ))}
          </div>
          {rows.length > INITIAL_CONNECTIONS && (
            <button type="button" className="small" onClick={() => setAll((a) => !a)}>
              {all ? "show fewer" : `show all ${rows.length}`}
            </button>
          )}
        </>
      )}
    </div>
  );
}
