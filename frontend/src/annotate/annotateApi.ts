// Typed client for the annotation API (backend/circuitscope/api/routes/annotate.py).
import { useEffect, useState, useSyncExternalStore } from "react";
import { ApiError, getJson, invalidate, requestJson } from "../api";

export type Role = "viewer" | "annotator" | "admin";
export interface User {
  id: number;
  name: string;
  role: Role;
  display_name: string;
}
export interface Me {
  user: User | null;
  via: "token" | "cookie" | "local" | "anonymous";
  anonymous_read: boolean;
  local_user: string | null;
  multi_user: boolean;
}

export type LabelStatus = "draft" | "confident" | "disputed";
export interface Label {
  id: number;
  unit_id: number | null;
  model: string;
  layer: string;
  index: number;
  annotator: string;
  label: string;
  description: string;
  tags: string[];
  confidence: number;
  status: LabelStatus;
  deleted: boolean;
  version: number;
  created_at: string;
  updated_at: string;
  updated_by: string | null;
  detached: boolean;
}
export interface Consensus {
  label: string;
  state: "single" | "agreed" | "majority" | "disputed" | "agreed-but-flagged";
  support: number;
  n_annotators: number;
  confidence: number;
  tags: string[];
  candidates: { label: string; votes: number; annotators: string[]; mean_confidence: number }[];
}
export interface FamilySummary {
  id: number;
  uid: string;
  model: string;
  name: string;
  comment: string;
  color: string;
  created_by: string;
  version: number;
  size: number;
  updated_at: string;
  updated_by: string | null;
  members?: { layer: string; index: number; unit_id: number | null; detached: boolean }[];
}
export interface CircuitSummary {
  id: number;
  uid: string;
  model: string;
  name: string;
  claim: string;
  status: CircuitStatus;
  author: string;
  version: number;
  created_at: string;
  updated_at: string;
  n_nodes: number;
  n_edges: number;
}
export type CircuitStatus = "proposed" | "supported" | "refuted";
export interface UnitLabels {
  unit: { model: string; layer: string; index: number; unit_id: number; layer_position: number };
  labels: Label[];
  consensus: Consensus | null;
  mine: Label | null;
  families: FamilySummary[];
  circuits: CircuitSummary[];
  can_edit: boolean;
}
export interface Revision {
  label_id?: number;
  annotator?: string;
  version: number;
  editor: string;
  action: string;
  summary?: string;
  snapshot: Record<string, unknown>;
  created_at: string;
}
export interface CircuitNode {
  id: string; // "layer:index"
  layer: string;
  index: number;
  unit_id: number | null;
  layer_position: number | null;
  pinned: boolean;
  note: string;
  label: string;
  label_state: string | null;
  /** URL of the channel render (/api/images/<sha256>), null when not computed. */
  image: string | null;
  missing: boolean;
}
export interface CircuitEdge {
  source: string;
  target: string;
  kind: "direct" | "expanded" | "manual";
  weight: number;
  l2: number;
}
export interface Supernode {
  name: string;
  nodes: string[];
}
export interface Circuit extends CircuitSummary {
  evidence: string;
  supernodes: Supernode[];
  nodes: CircuitNode[];
  edges: CircuitEdge[];
  problems: string[];
  updated_by: string | null;
}
export interface Suggestion {
  layer: string;
  index: number;
  unit_id: number;
  layer_position: number;
  via: string | null;
  weight: number;
  l2: number;
  kind: string;
  label: string;
  /** URL of the channel render (/api/images/<sha256>), null when not computed. */
  image: string | null;
}
export interface Suggestions {
  upstream: Suggestion[];
  downstream: Suggestion[];
}
export interface SearchResult {
  model: string;
  layer: string;
  index: number;
  unit_id: number | null;
  consensus: Consensus | null;
  label: string;
  /** URL of the channel render (/api/images/<sha256>), null when not computed. */
  image: string | null;
  labels: Label[];
  families: { id: number; name: string; color: string }[];
  /** With a concept filter: the matching score. */
  concept?: { concept: string; display: string; auc: number; diff: number; auc_err: number };
}
export interface SearchPage {
  total: number;
  limit: number;
  offset: number;
  results: SearchResult[];
}
export interface LayerAgreement {
  layer: string;
  position: number | null;
  channels: number | null;
  labeled_units: number;
  multi_annotated_units: number;
  disputed_units: number;
  labels: number;
  agreement: number | null;
}
export interface Token {
  id: number;
  user: string;
  name: string;
  kind: string;
  prefix: string;
  created_at: string;
  last_used_at: string | null;
  expires_at: string | null;
  revoked: boolean;
  token?: string;
}
/** A browser session (GET /api/auth/sessions): a token of kind "session"; `current` is this browser's. */
export interface SessionRow extends Token {
  current: boolean;
}

const enc = encodeURIComponent;
export const unitPath = (model: string, layer: string, index: number) =>
  `/models/${enc(model)}/layers/${enc(layer)}/units/${index}`;

export const A = {
  me: () => `/api/auth/me`,
  login: () => `/api/auth/login`,
  logout: () => `/api/auth/logout`,
  tokens: () => `/api/auth/tokens`,
  sessions: () => `/api/auth/sessions`,
  users: () => `/api/users`,
  labels: (m: string, l: string, i: number) => `/api/labels/${enc(m)}/${enc(l)}/${i}`,
  labelHistory: (m: string, l: string, i: number) => `/api/labels/${enc(m)}/${enc(l)}/${i}/history`,
  labelById: (id: number) => `/api/labels-by-id/${id}`,
  agreement: (m: string) => `/api/agreement/${enc(m)}`,
  queue: (m: string, l: string, mode: string, after: number) =>
    `/api/queue/${enc(m)}/${enc(l)}?mode=${mode}&after=${after}&limit=50`,
  search: (params: URLSearchParams) => `/api/search?${params}`,
  annotators: () => `/api/annotators`,
  families: (m?: string) => `/api/families${m ? `?model=${enc(m)}` : ""}`,
  family: (id: number) => `/api/families/${id}`,
  familyMap: (m: string, l: string) => `/api/family-map/${enc(m)}/${enc(l)}`,
  circuits: (q = "") => `/api/circuits${q}`,
  circuit: (id: number) => `/api/circuits/${id}`,
  circuitHistory: (id: number) => `/api/circuits/${id}/history`,
  suggestions: (id: number) => `/api/circuits/${id}/suggestions?limit=8`,
  exportCircuit: (id: number, fmt: string) => `/api/export/circuits/${id}?format=${fmt}`,
  exportLabels: (m: string, fmt: string) => `/api/export/labels/${enc(m)}?format=${fmt}`,
  exportProject: () => `/api/export/project`,
  importProject: (allowMissing: boolean) => `/api/import/project?allow_missing_units=${allowMissing}`,
  importCircuit: () => `/api/import/circuit`,
};

/** Send JSON (POST/PUT/PATCH/DELETE); throws ApiError with the server's message and body (409: `current`). */
export function send<T>(method: string, url: string, body?: unknown, raw?: string): Promise<T> {
  return requestJson<T>(method, url, { body, raw, allowEmpty: true });
}

/** After a write: drop cached browse responses so grids and unit pages show the new labels. */
export function afterWrite(): void {
  invalidate("/api/");
}

/** Fetch without the browse cache (annotation data changes under you); `reload()` fetches again. */
export function useFresh<T>(url: string | null): { data: T | undefined; error: ApiError | undefined; loading: boolean; reload: () => void; set: (d: T) => void } {
  const [tick, setTick] = useState(0);
  const [state, setState] = useState<{ data: T | undefined; error: ApiError | undefined; loading: boolean }>({
    data: undefined,
    error: undefined,
    loading: !!url,
  });
  useEffect(() => {
    if (!url) {
      setState({ data: undefined, error: undefined, loading: false });
      return;
    }
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    getJson<T>(url).then(
      (data) => live && setState({ data, error: undefined, loading: false }),
      (err) => live && setState({ data: undefined, error: err instanceof ApiError ? err : new ApiError(0, String(err)), loading: false }),
    );
    return () => {
      live = false;
    };
  }, [url, tick]);
  return { ...state, reload: () => setTick((t) => t + 1), set: (d: T) => setState({ data: d, error: undefined, loading: false }) };
}

// --- who am I (a tiny store shared by the nav bar and every page) ----------------------------------

let me: Me | undefined;
let meError: string | undefined;
const listeners = new Set<() => void>();
let loading: Promise<void> | null = null;

function emit() {
  for (const l of listeners) l();
}

export function refreshMe(): Promise<void> {
  loading = getJson<Me>(A.me())
    .then((m) => {
      me = m;
      meError = undefined;
    })
    .catch((e) => {
      meError = e instanceof Error ? e.message : String(e);
    })
    .finally(() => {
      loading = null;
      emit();
    });
  return loading;
}

function subscribe(cb: () => void): () => void {
  listeners.add(cb);
  if (!me && !loading) void refreshMe();
  return () => {
    listeners.delete(cb);
  };
}

export function useMe(): { me: Me | undefined; error: string | undefined } {
  const snapshot = useSyncExternalStore(subscribe, () => me);
  return { me: snapshot, error: meError };
}

export function canWrite(m: Me | undefined): boolean {
  return !!m?.user && (m.user.role === "annotator" || m.user.role === "admin");
}

export function when(iso: string | null | undefined): string {
  if (!iso) return "–";
  const d = new Date(iso);
  return d.toLocaleString(undefined, { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
