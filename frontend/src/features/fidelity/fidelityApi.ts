// Feature-visualization fidelity (backend: api/routes/fidelity.py): a render's peak / the unit's top
// dataset example. Renders below `weak_below` (0.5) are flagged, with the reason when it is known.
const enc = encodeURIComponent;

export interface FidelityStats {
  units: number;
  measured: number;
  at_least_1x: number | null;
  at_least_half: number | null;
  median: number | null;
  min: number | null;
}
export interface ModelFidelity {
  model: string;
  weak_below: number;
  overall: FidelityStats;
  layers: Record<string, FidelityStats>;
}
export interface UnitFidelityRow {
  index: number;
  best: number | null;
  best_objective: string | null;
  channel: number | null;
  note: string | null;
  failure: string | null;
}
export interface LayerFidelity {
  model: string;
  layer: string;
  weak_below: number;
  units: UnitFidelityRow[];
}
export interface RenderFidelity {
  objective: string;
  variant: number;
  peak: number | null;
  fidelity: number | null;
  note: string | null;
}
export interface UnitFidelity {
  model: string;
  layer: string;
  index: number;
  weak_below: number;
  top_activation: number | null;
  renders: RenderFidelity[];
  failures: { objective: string; reason: string }[];
}

export const fidelityPaths = {
  model: (model: string) => `/api/models/${enc(model)}/fidelity`,
  layer: (model: string, layer: string) => `/api/models/${enc(model)}/layers/${enc(layer)}/fidelity`,
  unit: (model: string, layer: string, index: number) =>
    `/api/models/${enc(model)}/layers/${enc(layer)}/units/${index}/fidelity`,
};

export function ratio(x: number | null | undefined): string {
  return x == null ? "–" : `${x.toFixed(x < 10 ? 2 : 1)}×`;
}

export function pct(x: number | null | undefined): string {
  return x == null ? "–" : `${Math.round(100 * x)} %`;
}
