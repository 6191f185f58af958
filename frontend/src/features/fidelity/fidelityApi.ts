// Feature-visualization fidelity (backend: api/routes/fidelity.py): a render's peak / the unit's top
// dataset example. Renders below `weak_below` (0.5) are flagged, with the reason when it is known.
import { $api, type Schemas } from "../../shared/api/client";

export type FidelityStats = Schemas["FidelityStats"];
export type ModelFidelity = Schemas["ModelFidelity"];
export type UnitFidelityRow = Schemas["UnitFidelityRow"];
export type LayerFidelity = Schemas["LayerFidelity"];
export type RenderFidelity = Schemas["RenderFidelity"];
export type UnitFidelity = Schemas["UnitFidelity"];

export const fidelityQueries = {
  model: (model: string) => $api.queryOptions("get", "/api/models/{model}/fidelity", { params: { path: { model } } }),
  layer: (model: string, layer: string) => $api.queryOptions("get", "/api/models/{model}/layers/{layer}/fidelity", { params: { path: { model, layer } } }),
  unit: (model: string, layer: string, index: number) =>
    $api.queryOptions("get", "/api/models/{model}/layers/{layer}/units/{index}/fidelity", { params: { path: { model, layer, index } } }),
};

export function ratio(x: number | null | undefined): string {
  return x == null ? "–" : `${x.toFixed(x < 10 ? 2 : 1)}×`;
}

export function pct(x: number | null | undefined): string {
  return x == null ? "–" : `${Math.round(100 * x)} %`;
}
