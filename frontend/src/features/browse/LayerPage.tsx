import { useEffect, useMemo, useState } from "react";
import { Link, useLocation, useNavigate, useParams } from "react-router-dom";
import { type ApiError } from "../../shared/api/client";
import { ComputeHint } from "./ComputeHint";
import { EmptyState, ErrorBox } from "../../shared/ErrorBox";
import { useKeys } from "../../shared/keys";
import { Loading } from "../../shared/Loading";
import { StageList, StatusBadge } from "../../shared/StatusBadge";
import { UnitThumb } from "../../shared/UnitThumb";
import { FamilyLegend, useFamilyMap } from "../annotate";
import { ConceptLayerTools, useLayerConcepts } from "../concepts";
import { FidelityBadge, useLayerFidelity } from "../fidelity/LayerFidelity";
import { fetchCached, useResource, useTitle } from "../../shared/useResource";
import { browseQueries, layerAbove, layerBelow, type UnitCell } from "./browseApi";
import { pagePaths } from "../../shared/paths";

const PAGE = 500;
const SIZES = { S: 64, M: 96, L: 144 } as const;
type Size = keyof typeof SIZES;

/** Load every unit cell of a layer, a page at a time; cells appear as pages arrive. */
function useLayerUnits(model: string, layer: string, total: number | undefined) {
  const [cells, setCells] = useState<UnitCell[]>([]);
  const [error, setError] = useState<ApiError | Error | undefined>();
  useEffect(() => {
    setCells([]);
    setError(undefined);
    if (total === undefined) return;
    let live = true;
    (async () => {
      let acc: UnitCell[] = [];
      for (let off = 0; off < total; off += PAGE) {
        const page = await fetchCached(browseQueries.units(model, layer, off, PAGE));
        if (!live) return;
        acc = acc.concat(page.items);
        setCells(acc);
      }
    })().catch((e) => live && setError(e));
    return () => {
      live = false;
    };
  }, [model, layer, total]);
  return { cells, error };
}

/** Every unit of a layer as a grid of channel feature visualizations (the Microscope layer view). */
export function LayerPage() {
  const { model = "", layer = "" } = useParams();
  const navigate = useNavigate();
  const location = useLocation();
  useTitle(`${layer} · ${model}`);
  const { data: info, error, loading } = useResource(browseQueries.layer(model, layer));
  const computed = info && info.status !== "not_computed";
  const { cells, error: unitsError } = useLayerUnits(model, layer, computed ? info.channels : undefined);
  const [size, setSize] = useState<Size>(() => (localStorage.getItem("cs.gridSize") as Size) || "M");
  const [labelledOnly, setLabelledOnly] = useState(false);
  const [family, setFamily] = useState<number | null>(null);
  const { families, familiesOf, colorOf } = useFamilyMap(model, layer);
  const concepts = useLayerConcepts(model, layer, !!computed);
  const fidelity = useLayerFidelity(model, layer);

  const above = info ? layerAbove(info) : null;
  const below = info ? layerBelow(info) : null;
  useKeys({
    ArrowUp: () => above && navigate(pagePaths.layer(model, above.name)),
    ArrowDown: () => below && navigate(pagePaths.layer(model, below.name)),
    Escape: () => navigate(pagePaths.model(model)),
  });

  // Coming back from a unit (Esc): scroll its cell into view.
  const focus = location.hash.startsWith("#u") ? Number(location.hash.slice(2)) : null;
  useEffect(() => {
    if (focus === null) return;
    const el = document.getElementById(`u${focus}`);
    if (el) el.scrollIntoView({ block: "center" });
  }, [focus, cells.length]);

  const shown = useMemo(
    () =>
      cells.filter(
        (c) =>
          (!labelledOnly || c.label) &&
          (family === null || familiesOf(c.index).some((f) => f.id === family)) &&
          concepts.keep(c.index),
      ),
    // familiesOf changes identity with the family map it reads
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [cells, labelledOnly, family, families, concepts.only, concepts.data],
  );
  const labelled = useMemo(() => cells.filter((c) => c.label).length, [cells]);

  if (loading) return <Loading what={`Loading layer ${layer}`} />;
  if (error || !info)
    return (
      <ErrorBox error={error}>
        <p>
          <Link to={pagePaths.model(model)}>See the layers of {model}</Link>
        </p>
      </ErrorBox>
    );
  const px = SIZES[size] ?? 96;
  return (
    <div className="layer-page">
      <nav className="crumbs">
        <Link to="/">Models</Link> › <Link to={pagePaths.model(model)}>{model}</Link> ›
      </nav>
      <div className="page-head">
        <h1>
          {info.name} <span className="muted small">{info.module_type}</span>
        </h1>
        <div className="layer-nav">
          {above ? (
            <Link to={pagePaths.layer(model, above.name)} title="previous layer (↑)">
              ↑ {above.name}
            </Link>
          ) : (
            <span className="muted">first layer</span>
          )}
          {below ? (
            <Link to={pagePaths.layer(model, below.name)} title="next layer (↓)">
              ↓ {below.name}
            </Link>
          ) : (
            <span className="muted">last layer</span>
          )}
        </div>
      </div>
      <p className="layer-meta">
        {info.channels} units · output {info.output_shape.join("×")} · <StatusBadge kind="layer" status={info.status} progress={info.progress} stages={info.stages} />{" "}
        <StageList stages={info.stages} />
      </p>
      {info.status === "not_computed" ? (
        <EmptyState title="This layer has not been computed yet">
          <ComputeHint intro="Compute its dataset examples, feature visualizations and weights with:" command={info.compute_command} />
        </EmptyState>
      ) : (
        <>
          {info.status !== "done" && (
            <div className="notice">
              This layer is {info.status === "running" ? "being computed" : "only partly computed"}: units without a render show a
              placeholder. To finish it: <code>{info.compute_command}</code>
            </div>
          )}
          <div className="grid-tools">
            <span>
              Size:{" "}
              {(Object.keys(SIZES) as Size[]).map((s) => (
                <button
                  key={s}
                  type="button"
                  className={`small ${s === size ? "active" : ""}`}
                  onClick={() => {
                    setSize(s);
                    localStorage.setItem("cs.gridSize", s);
                  }}
                >
                  {s}
                </button>
              ))}
            </span>
            {labelled > 0 && (
              <label>
                <input type="checkbox" checked={labelledOnly} onChange={(e) => setLabelledOnly(e.target.checked)} /> labelled only (
                {labelled})
              </label>
            )}
            <FamilyLegend families={families} selected={family} onSelect={setFamily} />
            <ConceptLayerTools state={concepts} />
            {fidelity.toggle}
            <span className="muted">
              {cells.length < info.channels ? `loading ${cells.length}/${info.channels}…` : `${info.channels} units`} · keys: ↑/↓ layer, Esc model
            </span>
          </div>
          {unitsError && <ErrorBox error={unitsError} title="Could not load the units" />}
          <div className="unit-grid" style={{ gridTemplateColumns: `repeat(auto-fill, ${px + 8}px)` }} data-testid="unit-grid">
            {shown.map((c) => (
              <div
                key={c.index}
                id={`u${c.index}`}
                className={`cell ${focus === c.index ? "focused" : ""}`}
                title={[familiesOf(c.index).map((f) => f.name).join(", "), concepts.titleOf(c.index)].filter(Boolean).join(" · ") || undefined}
                style={{
                  containIntrinsicSize: `${px + 8}px ${px + 30}px`,
                  boxShadow: (concepts.colourOf(c.index) ?? colorOf(c.index)) ? `inset 0 0 0 3px ${concepts.colourOf(c.index) ?? colorOf(c.index)}` : undefined,
                }}
              >
                <UnitThumb model={model} layer={info.name} index={c.index} image={c.image} label={c.label} size={px} />
                {fidelity.on && <FidelityBadge row={fidelity.row(c.index)} weak={fidelity.weak} />}
              </div>
            ))}
          </div>
        </>
      )}
    </div>
  );
}
