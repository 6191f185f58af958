// The browse feature's API: generated types (api/schemas/browse.py) and the queries its pages use.
import { $api, type Schemas } from "../../shared/api/client";
import type { UnitConcepts } from "../concepts/conceptApi";

// Narrower than the schema: these fields are untyped lists / dicts in the pydantic models
// (api/schemas/browse.py: box, output_shape, kernel, quantiles, input_kernel, concepts); the shapes are
// the ones records/ and concepts/ write. Drop an entry here once its pydantic field is typed.
type Shape = { output_shape: number[] };
export type LayerStatus = Schemas["LayerSummary"]["status"];
export type StageProgress = Schemas["StageProgress"];
export type LayerSummary = Omit<Schemas["LayerSummary"], "output_shape"> & Shape;
export type LayerNeighbour = Schemas["LayerNeighbour"];
export type LayerDetail = Omit<Schemas["LayerDetail"], "output_shape"> & Shape;
export type LayerContext = Omit<Schemas["LayerContext"], "output_shape"> & Shape;
export type ModelSummary = Omit<Schemas["ModelSummary"], "layers"> & { layers: LayerSummary[] };
export type UnitCell = Schemas["UnitCell"];
export type UnitPage = Schemas["UnitPage"];
export type UnitRef = Schemas["UnitRef"];
export type FeatureVis = Schemas["FeatureVisOut"];
export type Example = Omit<Schemas["ExampleOut"], "box"> & { box: number[] };
export type ConnectionOut = Omit<Schemas["ConnectionOut"], "kernel"> & { kernel: number[][] | number[] };
export type Histogram = Schemas["Histogram"];
export type UnitStats = Omit<Schemas["UnitStats"], "quantiles"> & { quantiles?: Record<string, number> | null };
/** The first layer's weights on the image channels: [channel][y][x]. */
export interface InputKernel {
  channels: number;
  size: [number, number];
  values: number[][][];
}
export type UnitDetail = Omit<
  Schemas["UnitDetail"],
  "layer" | "top" | "bottom" | "quantile" | "incoming" | "outgoing" | "stats" | "input_kernel" | "concepts" | "concept_status" | "suggested_label"
> &
  UnitConcepts & {
    layer: LayerContext;
    top: Example[];
    bottom: Example[];
    quantile?: Example[];
    incoming: ConnectionOut[];
    outgoing: ConnectionOut[];
    stats: UnitStats;
    input_kernel?: InputKernel | null;
  };

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
