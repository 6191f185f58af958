// The label-evidence API (backend/circuitscope/api/routes/evidence.py) through the generated client.
// PENDING response models on the evidence routes (the "contract" branch): until then the response
// interfaces below are written by hand; each becomes `Schemas["..."]` once its route declares one.
import { $api, api, data, type Schemas } from "../../shared/api/client";

export type TuningParam = "orientation" | "curvature" | "hue" | "frequency" | "rotation";
export const TUNING_PARAMS: TuningParam[] = ["orientation", "frequency", "curvature", "hue", "rotation"];

export interface TuningCurve {
  param: TuningParam;
  values: number[];
  responses: number[];
  preferred: number | null;
  preferred_response: number | null;
  flat: boolean;
  depth: number | null;
  blank_response: number;
  stimulus: Record<string, unknown>;
  convention: string;
  measure: string;
  seconds?: number;
  precomputed?: string;
  top_activation: number | null;
}

export interface ClaimEvidence {
  concept: string;
  auc: number | null;
  auc_below: number | null;
}
export type EvidenceState = "unchecked" | "weak" | "supported" | "mixed";
export interface LabelEvidence {
  id: number;
  label: string;
  annotator: string;
  version: number;
  claims: ClaimEvidence[];
  human_share: number | null;
  human_answers: number;
  human_coverage: number | null;
  human_annotators: number;
  evidence: EvidenceState;
  weak: boolean;
  reasons: string[];
}
export interface UnitEvidence {
  rules: string;
  thresholds: { weak_auc: number; strong_auc: number; weak_share: number; strong_share: number };
  scored_concepts: string[] | null;
  labels: LabelEvidence[];
}

export interface SampleInfo {
  id: number;
  measure: "output" | "pre_relu";
  scanned: number;
  items: number;
  params: { per_bin: number; bins: number; max_images: number; seed: number };
  created_at: string | null;
}
export interface CompareTask {
  label: { id: number; text: string; version: number; annotator: string; description: string };
  sample: SampleInfo | null;
  items: { id: number; crop: string; image: string; box: number[]; size: number; ref: string }[];
  answers: Record<string, Answer>;
}
export type Answer = "fits" | "partly" | "not";
export interface BinResult {
  bin: number;
  lo: number;
  hi: number;
  answers: number;
  weight: number;
  share_fits: number | null;
  share_partly: number | null;
  share_not: number | null;
}
export interface ShareResult {
  answers: number;
  bins: BinResult[];
  weighted: Record<Answer, number | null>;
  label_share: number | null;
  coverage: number | null;
}
export interface CompareResults extends ShareResult {
  label: { id: number; version: number; text: string; current_version: number };
  sample: SampleInfo;
  measure: string;
  scan_bins: { edges: number[]; counts: number[]; weights: number[] };
  annotators: Record<string, ShareResult>;
}

type Q<T> = { queryKey: readonly unknown[]; queryFn: () => Promise<T> };
const cast = <T,>(q: unknown) => q as Q<T>;
const unit = (model: string, layer: string, index: number) => ({ path: { model, layer, index } });

export const evidenceQueries = {
  tuning: (model: string, layer: string, index: number, param: TuningParam) =>
    cast<TuningCurve>($api.queryOptions("get", "/api/evidence/tuning/{model}/{layer}/{index}", { params: { ...unit(model, layer, index), query: { param } } })),
  unitEvidence: (model: string, layer: string, index: number) =>
    cast<UnitEvidence>($api.queryOptions("get", "/api/evidence/labels/{model}/{layer}/{index}", { params: unit(model, layer, index) })),
};

export const evidenceCalls = {
  unitEvidence: (model: string, layer: string, index: number) =>
    data(api.GET("/api/evidence/labels/{model}/{layer}/{index}", { params: unit(model, layer, index) })) as Promise<UnitEvidence>,
  task: (model: string, layer: string, index: number, labelId: number) =>
    data(api.GET("/api/evidence/comparison/{model}/{layer}/{index}/task", { params: { ...unit(model, layer, index), query: { label_id: labelId } } })) as Promise<CompareTask>,
  results: (model: string, layer: string, index: number, labelId: number) =>
    data(api.GET("/api/evidence/comparison/{model}/{layer}/{index}/results", { params: { ...unit(model, layer, index), query: { label_id: labelId } } })) as Promise<CompareResults>,
  answer: (model: string, layer: string, index: number, body: Schemas["AnswerIn"]) =>
    data(api.PUT("/api/evidence/comparison/{model}/{layer}/{index}/answers", { params: unit(model, layer, index), body })),
  createSample: (model: string, layer: string, index: number, body: Schemas["SampleIn"]) =>
    data(api.POST("/api/evidence/comparison/{model}/{layer}/{index}/sample", { params: unit(model, layer, index), body })),
  claims: (labelId: number, body: Schemas["ClaimsIn"]) => data(api.PUT("/api/evidence/claims/{label_id}", { params: { path: { label_id: labelId } }, body })),
  tuneLayer: (model: string, layer: string) =>
    data(api.POST("/api/evidence/tuning/{model}/{layer}/job", { params: { path: { model, layer } }, body: {} })) as Promise<{ id: number }>,
};

const enc = encodeURIComponent;
export const comparePage = (model: string, layer: string, index: number, labelId?: number) =>
  `/compare/${enc(model)}/${enc(layer)}/${index}${labelId ? `?label=${labelId}` : ""}`;

export function pct(x: number | null | undefined): string {
  return x === null || x === undefined ? "—" : `${Math.round(x * 100)} %`;
}
