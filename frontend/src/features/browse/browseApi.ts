// The browse feature's API: generated types (api/schemas/browse.py) and the queries its pages use.
import { $api, type Schemas } from "../../shared/api/client";

export type LayerStatus = Schemas["LayerSummary"]["status"];
export type StageProgress = Schemas["StageProgress"];
export type LayerSummary = Schemas["LayerSummary"];
export type LayerNeighbour = Schemas["LayerNeighbour"];
export type LayerDetail = Schemas["LayerDetail"];
export type LayerContext = Schemas["LayerContext"];
export type ModelSummary = Schemas["ModelSummary"];
export type UnitCell = Schemas["UnitCell"];
export type UnitPage = Schemas["UnitPage"];
export type UnitRef = Schemas["UnitRef"];
export type FeatureVis = Schemas["FeatureVisOut"];
export type Example = Schemas["ExampleOut"];
export type ConnectionOut = Schemas["ConnectionOut"];
export type Histogram = Schemas["Histogram"];
export type UnitStats = Schemas["UnitStats"];
/** The first layer's weights on the image channels: [channel][y][x]. */
export type InputKernel = Schemas["InputKernel"];
export type UnitDetail = Schemas["UnitDetail"];

type Q<T> = { queryKey: readonly unknown[]; queryFn: () => Promise<T> };
const cast = <T,>(q: unknown) => q as Q<T>;

/** GET queries for useResource / prefetch. */
export const browseQueries = {
  models: () => cast<ModelSummary[]>($api.queryOptions("get", "/api/models")),
  model: (model: string) => cast<ModelSummary>($api.queryOptions("get", "/api/models/{model}", { params: { path: { model } } })),
  layer: (model: string, layer: string) =>
    cast<LayerDetail>($api.queryOptions("get", "/api/models/{model}/layers/{layer}", { params: { path: { model, layer } } })),
  units: (model: string, layer: string, offset: number, limit: number) =>
    $api.queryOptions("get", "/api/models/{model}/layers/{layer}/units", { params: { path: { model, layer }, query: { offset, limit } } }),
  unit: (model: string, layer: string, index: number, examples?: number) =>
    cast<UnitDetail>(
      $api.queryOptions("get", "/api/models/{model}/layers/{layer}/units/{index}", {
        params: { path: { model, layer, index }, query: examples ? { examples } : {} },
      }),
    ),
};

/** The layer ↑ / ↓ moves to: the nearest one with records (never an uncomputed one such as a final
 * pooling layer nobody asked for); null when there is none. */
export function layerAbove(l: Pick<LayerContext, "prev_computed">): LayerNeighbour | null {
  return l.prev_computed ?? null;
}
export function layerBelow(l: Pick<LayerContext, "next_computed">): LayerNeighbour | null {
  return l.next_computed ?? null;
}
