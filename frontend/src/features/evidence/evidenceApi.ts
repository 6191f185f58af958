// The label-evidence API (backend/circuitscope/api/routes/evidence.py) through the generated client.
import { $api, api, data, type Schemas } from "../../shared/api/client";

export type TuningParam = "orientation" | "curvature" | "hue" | "frequency" | "rotation";
export const TUNING_PARAMS: TuningParam[] = ["orientation", "frequency", "curvature", "hue", "rotation"];

export type TuningCurve = Schemas["TuningCurveOut"];
export type ClaimEvidence = Schemas["ClaimScore"];
export type LabelEvidence = Schemas["LabelScore"];
export type EvidenceState = LabelEvidence["evidence"];
export type UnitEvidence = Schemas["UnitEvidenceOut"];
export type SampleInfo = Schemas["SampleOut"];
export type CompareTask = Schemas["TaskOut"];
export type Answer = Schemas["AnswerIn"]["answer"];
export type BinResult = Schemas["BinShare"];
export type ShareResult = Schemas["ShareResults"];
export type CompareResults = Schemas["ComparisonResultsOut"];

const unit = (model: string, layer: string, index: number) => ({ path: { model, layer, index } });

export const evidenceQueries = {
  tuning: (model: string, layer: string, index: number, param: TuningParam) =>
    $api.queryOptions("get", "/api/evidence/tuning/{model}/{layer}/{index}", { params: { ...unit(model, layer, index), query: { param } } }),
  unitEvidence: (model: string, layer: string, index: number) =>
    $api.queryOptions("get", "/api/evidence/labels/{model}/{layer}/{index}", { params: unit(model, layer, index) }),
};

export const evidenceCalls = {
  unitEvidence: (model: string, layer: string, index: number) =>
    data(api.GET("/api/evidence/labels/{model}/{layer}/{index}", { params: unit(model, layer, index) })),
  task: (model: string, layer: string, index: number, labelId: number) =>
    data(api.GET("/api/evidence/comparison/{model}/{layer}/{index}/task", { params: { ...unit(model, layer, index), query: { label_id: labelId } } })),
  results: (model: string, layer: string, index: number, labelId: number) =>
    data(api.GET("/api/evidence/comparison/{model}/{layer}/{index}/results", { params: { ...unit(model, layer, index), query: { label_id: labelId } } })),
  answer: (model: string, layer: string, index: number, body: Schemas["AnswerIn"]) =>
    data(api.PUT("/api/evidence/comparison/{model}/{layer}/{index}/answers", { params: unit(model, layer, index), body })),
  createSample: (model: string, layer: string, index: number, body: Schemas["SampleIn"]) =>
    data(api.POST("/api/evidence/comparison/{model}/{layer}/{index}/sample", { params: unit(model, layer, index), body })),
  claims: (labelId: number, body: Schemas["ClaimsIn"]) => data(api.PUT("/api/evidence/claims/{label_id}", { params: { path: { label_id: labelId } }, body })),
  tuneLayer: (model: string, layer: string) =>
    data(api.POST("/api/evidence/tuning/{model}/{layer}/job", { params: { path: { model, layer } }, body: {} })),
};

const enc = encodeURIComponent;
export const comparePage = (model: string, layer: string, index: number, labelId?: number) =>
  `/compare/${enc(model)}/${enc(layer)}/${index}${labelId ? `?label=${labelId}` : ""}`;

export function pct(x: number | null | undefined): string {
  return x === null || x === undefined ? "—" : `${Math.round(x * 100)} %`;
}
