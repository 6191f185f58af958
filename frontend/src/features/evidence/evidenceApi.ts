// Typed client for the label-evidence API (backend/circuitscope/api/routes/evidence.py).
const enc = encodeURIComponent;

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

export const evidencePaths = {
  tuning: (model: string, layer: string, index: number, param: TuningParam) =>
    `/api/evidence/tuning/${enc(model)}/${enc(layer)}/${index}?param=${param}`,
  layerJob: (model: string, layer: string) => `/api/evidence/tuning/${enc(model)}/${enc(layer)}/job`,
  unitEvidence: (model: string, layer: string, index: number) => `/api/evidence/labels/${enc(model)}/${enc(layer)}/${index}`,
  claims: (labelId: number) => `/api/evidence/claims/${labelId}`,
  sample: (model: string, layer: string, index: number) => `/api/evidence/comparison/${enc(model)}/${enc(layer)}/${index}/sample`,
  task: (model: string, layer: string, index: number, labelId: number) =>
    `/api/evidence/comparison/${enc(model)}/${enc(layer)}/${index}/task?label_id=${labelId}`,
  answer: (model: string, layer: string, index: number) => `/api/evidence/comparison/${enc(model)}/${enc(layer)}/${index}/answers`,
  results: (model: string, layer: string, index: number, labelId: number, version?: number) =>
    `/api/evidence/comparison/${enc(model)}/${enc(layer)}/${index}/results?label_id=${labelId}${version ? `&version=${version}` : ""}`,
};

export const comparePage = (model: string, layer: string, index: number, labelId?: number) =>
  `/compare/${enc(model)}/${enc(layer)}/${index}${labelId ? `?label=${labelId}` : ""}`;

export function pct(x: number | null | undefined): string {
  return x === null || x === undefined ? "—" : `${Math.round(x * 100)} %`;
}
