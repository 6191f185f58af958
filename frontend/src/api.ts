// Typed client for the browse API (backend/circuitscope/api/schemas/browse.py mirrors these types).
import type { UnitConcepts } from "./concepts/conceptApi";
import type { InputKernel } from "./components/RgbKernel";

export type LayerStatus = "done" | "running" | "partial" | "not_computed";

export interface StageProgress {
  status: string;
  units_done: number;
  units_total: number;
}

export interface LayerSummary {
  name: string;
  position: number;
  module_type: string;
  output_shape: number[];
  channels: number;
  status: LayerStatus;
  progress: number;
  stages: Record<string, StageProgress>;
  compute_command: string;
}

export interface LayerNeighbour {
  name: string;
  channels: number;
}

export interface LayerDetail extends LayerSummary {
  model: string;
  /** Neighbours in execution order. */
  prev: LayerNeighbour | null;
  next: LayerNeighbour | null;
  /** Nearest earlier / later layer that has records (what ↑/↓ move to). */
  prev_computed: LayerNeighbour | null;
  next_computed: LayerNeighbour | null;
}

/** The layer ↑ / ↓ moves to: the nearest one with records (never an uncomputed one such as a final
 * pooling layer nobody asked for); null when there is none. */
export function layerAbove(l: LayerDetail): LayerNeighbour | null {
  return l.prev_computed;
}
export function layerBelow(l: LayerDetail): LayerNeighbour | null {
  return l.next_computed;
}

export interface ModelSummary {
  slug: string;
  name: string;
  description: string;
  input_size: number;
  num_layers: number;
  num_units: number;
  status: LayerStatus;
  progress: number;
  layers: LayerSummary[];
}

export interface UnitCell {
  index: number;
  id: number | null;
  label: string | null;
  image: string | null;
  top_activation: number | null;
}

export interface UnitPage {
  model: string;
  layer: string;
  total: number;
  offset: number;
  limit: number;
  items: UnitCell[];
}

export interface UnitRef {
  id: number;
  model: string;
  layer: string;
  index: number;
  label: string | null;
  image: string | null;
}

export interface FeatureVis {
  objective: string;
  variant: number;
  image: string;
  activation: number;
  /** Spatial max of the unit's output map on the render (what dataset examples are ranked by); null for older renders. */
  peak: number | null;
  params: Record<string, unknown>;
}

export interface Example {
  kind: "top" | "bottom" | "quantile";
  /** kind "quantile": 0 (weakest tenth of the per-image spatial max) … 9 (strongest). */
  decile?: number | null;
  rank: number;
  activation: number;
  y: number;
  x: number;
  box: number[];
  crop: string;
  heatmap: string;
  image: string;
  dataset_index: number;
  ref: string;
  label: string | null;
}

export interface ConnectionOut {
  unit: UnitRef;
  kind: string;
  strength: number;
  l2: number;
  relative: number;
  kernel: number[][] | number[];
}

export interface Histogram {
  edges: number[];
  counts: number[];
}

export interface UnitStats {
  mean: number | null;
  std: number | null;
  min: number | null;
  max: number | null;
  sparsity: number | null;
  quantiles: Record<string, number> | null;
  top_activation: number | null;
  histogram: Histogram | null;
  max_histogram: Histogram | null;
}

export interface UnitDetail {
  id: number | null;
  model: string;
  model_name: string;
  /** Side of the model-input images in pixels (example boxes are in these pixels). */
  input_size: number;
  layer: LayerDetail;
  index: number;
  computed: boolean;
  label: string | null;
  stats: UnitStats;
  feature_vis: FeatureVis[];
  top: Example[];
  bottom: Example[];
  /** Examples across the distribution: a few per decile (Example.decile). */
  quantile?: Example[];
  /** How many top / bottom examples are stored (ask for more with ?examples=, up to 100). */
  examples_stored?: { top: number; bottom: number };
  /** First layer only: the unit's weights on the image channels (components/RgbKernel.tsx). */
  input_kernel?: InputKernel | null;
  incoming: ConnectionOut[];
  outgoing: ConnectionOut[];
  /** Concept selectivity (concepts/conceptApi.ts): ranked scores, or null with the reason in concept_status. */
  concepts: UnitConcepts["concepts"];
  concept_status: UnitConcepts["concept_status"];
  suggested_label: UnitConcepts["suggested_label"];
}

/** An HTTP error from the API; `detail` is the server's message (always JSON {"detail": ...}). */
export class ApiError extends Error {
  constructor(public status: number, public detail: string, public body: Record<string, unknown> = {}) {
    super(detail);
  }
}

const enc = encodeURIComponent;

export const apiPaths = {
  models: () => `/api/models`,
  model: (model: string) => `/api/models/${enc(model)}`,
  layer: (model: string, layer: string) => `/api/models/${enc(model)}/layers/${enc(layer)}`,
  units: (model: string, layer: string, offset: number, limit: number) =>
    `/api/models/${enc(model)}/layers/${enc(layer)}/units?offset=${offset}&limit=${limit}`,
  unit: (model: string, layer: string, index: number) =>
    `/api/models/${enc(model)}/layers/${enc(layer)}/units/${index}`,
  unitById: (id: number) => `/api/units/${id}`,
};

/** Links of the browser pages (stable, shareable). */
export const pagePaths = {
  home: () => `/`,
  model: (model: string) => `/models/${enc(model)}`,
  layer: (model: string, layer: string) => `/models/${enc(model)}/layers/${enc(layer)}`,
  unit: (model: string, layer: string, index: number) => `/models/${enc(model)}/layers/${enc(layer)}/units/${index}`,
};

/** One request with a JSON answer; throws ApiError with the server's message (`detail`) and body, or a
 * network-level explanation. `body` is sent as JSON, `raw` as-is (already JSON text). */
export async function requestJson<T>(
  method: string,
  url: string,
  opts: { body?: unknown; raw?: string; signal?: AbortSignal; allowEmpty?: boolean } = {},
): Promise<T> {
  const { body, raw, signal } = opts;
  const hasBody = body !== undefined || raw !== undefined;
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      signal,
      credentials: "same-origin",
      headers: { Accept: "application/json", ...(hasBody ? { "Content-Type": "application/json" } : {}) },
      body: raw !== undefined ? raw : body !== undefined ? JSON.stringify(body) : undefined,
    });
  } catch (err) {
    if ((err as Error).name === "AbortError") throw err;
    throw new ApiError(0, `Cannot reach the circuitscope server (${(err as Error).message}). Is \`circuitscope serve\` running?`);
  }
  const text = await res.text();
  let parsed: unknown = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = null;
  }
  if (!res.ok) {
    const b = (parsed && typeof parsed === "object" ? parsed : {}) as Record<string, unknown>;
    const detail =
      typeof b.detail === "string"
        ? b.detail
        : Array.isArray(b.detail)
          ? JSON.stringify(b.detail)
          : `${res.status} ${res.statusText}${text && !parsed ? `: ${text.slice(0, 300)}` : ""}`;
    throw new ApiError(res.status, detail, b);
  }
  if (parsed === null && !opts.allowEmpty)
    throw new ApiError(res.status, `The server sent a response that is not JSON from ${url}.`);
  return parsed as T;
}

/** GET a JSON resource. */
export function getJson<T>(url: string, signal?: AbortSignal): Promise<T> {
  return requestJson<T>("GET", url, { signal });
}

// A small in-memory cache so back/forward and keyboard navigation redraw instantly.
const cache = new Map<string, unknown>();
const inflight = new Map<string, Promise<unknown>>();
const CACHE_MAX = 300;

export function cached<T>(url: string): T | undefined {
  return cache.get(url) as T | undefined;
}

export function fetchCached<T>(url: string): Promise<T> {
  if (cache.has(url)) return Promise.resolve(cache.get(url) as T);
  const running = inflight.get(url);
  if (running) return running as Promise<T>;
  const p = getJson<T>(url)
    .then((data) => {
      cache.set(url, data);
      if (cache.size > CACHE_MAX) cache.delete(cache.keys().next().value as string);
      return data;
    })
    .finally(() => inflight.delete(url));
  inflight.set(url, p);
  return p;
}

const invalidationListeners = new Set<(prefix: string) => void>();

/** Forget cached responses (e.g. after an edit elsewhere changes labels); all when no prefix. Mounted
 * views (useApi) are told, so a saved label shows in the page header at once. */
export function invalidate(prefix = ""): void {
  for (const key of [...cache.keys()]) if (key.startsWith(prefix)) cache.delete(key);
  for (const listener of invalidationListeners) listener(prefix);
}

export function onInvalidate(listener: (prefix: string) => void): () => void {
  invalidationListeners.add(listener);
  return () => invalidationListeners.delete(listener);
}

/** Warm the cache (neighbouring units) without surfacing errors. */
export function prefetch(url: string): void {
  if (!cache.has(url)) fetchCached(url).catch(() => undefined);
}

export function fmt(v: number | null | undefined, digits = 3): string {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e4 || a < 1e-3)) return v.toExponential(2);
  return v.toFixed(digits);
}
