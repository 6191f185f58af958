// The annotation feature's API (backend/circuitscope/api/routes/annotate.py): queries and calls through the
// generated client (paths, parameters and request bodies are checked against /openapi.json).
//
// PENDING the backend's response models for the annotate routes (issue 9, the "contract" branch): these
// routes' answers are untyped in /openapi.json today, so the response interfaces below are still written
// by hand; each becomes `Schemas["..."]` once its route declares a response_model.
import { useSyncExternalStore } from "react";
import { $api, api, data, type paths, type Schemas } from "../../shared/api/client";
import type { Job } from "../jobs/jobsApi";
import type { TestDoc } from "./CircuitTestPanel";

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
  image_hash: string | null;
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
  image_hash: string | null;
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
  image_hash: string | null;
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
export interface UserRow {
  id: number;
  name: string;
  display_name: string;
  role: Role;
  disabled: boolean;
  has_password: boolean;
  created_at: string;
}
/** A browser session (GET /api/auth/sessions): a token of kind "session"; `current` is this browser's. */
export interface SessionRow extends Token {
  current: boolean;
}

export const imageUrl = (hash: string | null | undefined) => (hash ? `/api/images/${hash}` : null);

type Q<T> = { queryKey: readonly unknown[]; queryFn: () => Promise<T> };
const cast = <T,>(q: unknown) => q as Q<T>;
type UnitPath = { model: string; layer: string; index: number };
const unit = (model: string, layer: string, index: number): { path: UnitPath } => ({ path: { model, layer, index } });

/** GET queries (for useResource with `fresh`: annotation data changes under you). */
export const annotateQueries = {
  sessions: () => cast<SessionRow[]>($api.queryOptions("get", "/api/auth/sessions")),
  tokens: () => cast<Token[]>($api.queryOptions("get", "/api/auth/tokens")),
  users: () => cast<UserRow[]>($api.queryOptions("get", "/api/users")),
  labels: (m: string, l: string, i: number) => cast<UnitLabels>($api.queryOptions("get", "/api/labels/{model}/{layer}/{index}", { params: unit(m, l, i) })),
  /** `version` is part of the key: a new revision fetches the history again. */
  labelHistory: (m: string, l: string, i: number, version: string) => {
    const q = cast<Revision[]>($api.queryOptions("get", "/api/labels/{model}/{layer}/{index}/history", { params: unit(m, l, i) }));
    return { ...q, queryKey: [...q.queryKey, version] };
  },
  agreement: (m: string) => cast<LayerAgreement[]>($api.queryOptions("get", "/api/agreement/{model}", { params: { path: { model: m } } })),
  queue: (m: string, l: string, mode: "any" | "mine", after: number) =>
    $api.queryOptions("get", "/api/queue/{model}/{layer}", { params: { path: { model: m, layer: l }, query: { mode, after, limit: 50 } } }),
  search: (query: SearchQuery) => cast<SearchPage>($api.queryOptions("get", "/api/search", { params: { query } })),
  annotators: () => cast<string[]>($api.queryOptions("get", "/api/annotators")),
  families: (m?: string) => cast<FamilySummary[]>($api.queryOptions("get", "/api/families", { params: { query: m ? { model: m } : {} } })),
  familyMap: (m: string, l: string) => $api.queryOptions("get", "/api/family-map/{model}/{layer}", { params: { path: { model: m, layer: l } } }),
  circuits: (query: NonNullable<paths["/api/circuits"]["get"]["parameters"]["query"]> = {}) =>
    cast<CircuitSummary[]>($api.queryOptions("get", "/api/circuits", { params: { query } })),
  circuit: (id: number) => cast<Circuit>($api.queryOptions("get", "/api/circuits/{circuit_id}", { params: { path: { circuit_id: id } } })),
  unitSuggestions: (m: string, l: string, i: number, limit: number) =>
    cast<Suggestions>($api.queryOptions("get", "/api/suggestions/{model}/{layer}/{index}", { params: { ...unit(m, l, i), query: { limit } } })),
  circuitHistory: (id: number) => cast<Revision[]>($api.queryOptions("get", "/api/circuits/{circuit_id}/history", { params: { path: { circuit_id: id } } })),
};

export type SearchQuery = NonNullable<paths["/api/search"]["get"]["parameters"]["query"]>;

const byId = <K extends string>(key: K, id: number) => ({ path: { [key]: id } as Record<K, number> });

/** Writes (each throws ApiError; a 409 carries the current version in `body.current`). */
export const annotateCalls = {
  login: (body: Schemas["LoginIn"]) => data(api.POST("/api/auth/login", { body })),
  logout: () => data(api.POST("/api/auth/logout")),
  revokeSession: (id: number) => data(api.DELETE("/api/auth/sessions/{session_id}", { params: byId("session_id", id) })),
  revokeOtherSessions: () => data(api.POST("/api/auth/sessions/revoke-others")),
  createToken: (body: Schemas["TokenIn"]) => data(api.POST("/api/auth/tokens", { body })) as Promise<Token>,
  revokeToken: (id: number) => data(api.DELETE("/api/auth/tokens/{token_id}", { params: byId("token_id", id) })),
  createUser: (body: Schemas["UserCreateIn"]) => data(api.POST("/api/users", { body })),
  patchUser: (name: string, body: Schemas["UserPatchIn"]) => data(api.PATCH("/api/users/{name}", { params: { path: { name } }, body })),
  saveLabel: (m: string, l: string, i: number, body: Schemas["LabelIn"]) =>
    data(api.PUT("/api/labels/{model}/{layer}/{index}", { params: unit(m, l, i), body })) as Promise<UnitLabels>,
  adoptSuggestion: (m: string, l: string, i: number, body: Schemas["AdoptIn"]) =>
    data(api.POST("/api/labels/{model}/{layer}/{index}/adopt-suggestion", { params: unit(m, l, i), body })),
  deleteLabel: (id: number, version: number) =>
    data(api.DELETE("/api/labels-by-id/{label_id}", { params: { path: { label_id: id }, query: { version } } })),
  family: (id: number) => data(api.GET("/api/families/{family_id}", { params: byId("family_id", id) })) as Promise<FamilySummary>,
  createFamily: (body: Schemas["FamilyIn"]) => data(api.POST("/api/families", { body })),
  patchFamily: (id: number, body: Schemas["FamilyPatchIn"]) => data(api.PATCH("/api/families/{family_id}", { params: byId("family_id", id), body })),
  familyMembers: (id: number, body: Schemas["FamilyMembersIn"]) =>
    data(api.POST("/api/families/{family_id}/members", { params: byId("family_id", id), body })),
  deleteFamily: (id: number, version: number) =>
    data(api.DELETE("/api/families/{family_id}", { params: { path: { family_id: id }, query: { version } } })),
  circuit: (id: number) => data(api.GET("/api/circuits/{circuit_id}", { params: byId("circuit_id", id) })) as Promise<Circuit>,
  createCircuit: (body: Schemas["CircuitIn"]) => data(api.POST("/api/circuits", { body })) as Promise<Circuit>,
  patchCircuit: (id: number, body: Schemas["CircuitPatchIn"]) =>
    data(api.PATCH("/api/circuits/{circuit_id}", { params: byId("circuit_id", id), body })) as Promise<Circuit>,
  addNodes: (id: number, body: Schemas["CircuitNodesIn"]) =>
    data(api.POST("/api/circuits/{circuit_id}/nodes", { params: byId("circuit_id", id), body })) as Promise<Circuit>,
  removeNodes: (id: number, body: Schemas["CircuitRemoveIn"]) =>
    data(api.POST("/api/circuits/{circuit_id}/nodes/remove", { params: byId("circuit_id", id), body })) as Promise<Circuit>,
  patchNode: (id: number, key: string, body: Schemas["NodePatchIn"]) =>
    data(api.PATCH("/api/circuits/{circuit_id}/nodes/{key}", { params: { path: { circuit_id: id, key } }, body })) as Promise<Circuit>,
  refreshEdges: (id: number, body: Schemas["RefreshIn"]) =>
    data(api.POST("/api/circuits/{circuit_id}/refresh-edges", { params: byId("circuit_id", id), body })) as Promise<Circuit>,
  deleteCircuit: (id: number, version: number) =>
    data(api.DELETE("/api/circuits/{circuit_id}", { params: { path: { circuit_id: id }, query: { version } } })),
  circuitSuggestions: (id: number) =>
    data(api.GET("/api/circuits/{circuit_id}/suggestions", { params: { path: { circuit_id: id }, query: { limit: 8 } } })) as Promise<Suggestions>,
  /** Import files are sent as they are (JSON text the server validates). */
  importProject: (text: string, allowMissing: boolean) =>
    data(
      api.POST("/api/import/project", {
        params: { query: { allow_missing_units: allowMissing } },
        body: text as never,
        bodySerializer: (b: unknown) => b as string,
        headers: { "Content-Type": "application/json" },
      }),
    ) as Promise<{ labels: number; families: number; circuits: number; users_created: number; warnings: string[] }>,
  importCircuit: (text: string) =>
    data(
      api.POST("/api/import/circuit", { body: text as never, bodySerializer: (b: unknown) => b as string, headers: { "Content-Type": "application/json" } }),
    ) as Promise<Circuit>,
};

/** Circuit tests (api/routes/circuit_tests.py); `results` is a dict in the schema, TestDoc its shape. */
export type CircuitTestRow = Schemas["CircuitTestSummary"];
export type CircuitTest = Omit<Schemas["CircuitTestOut"], "results"> & { results: TestDoc };
export const circuitTestQueries = {
  tests: (cid: number) => $api.queryOptions("get", "/api/circuits/{circuit_id}/tests", { params: byId("circuit_id", cid) }),
  latest: (cid: number) => cast<CircuitTest | null>($api.queryOptions("get", "/api/circuits/{circuit_id}/tests/latest", { params: byId("circuit_id", cid) })),
  jobs: (cid: number) => cast<Job[]>($api.queryOptions("get", "/api/circuits/{circuit_id}/tests/jobs", { params: byId("circuit_id", cid) })),
};
export const circuitTestCalls = {
  start: (cid: number, body: Schemas["CircuitTestIn"]) =>
    data(api.POST("/api/circuits/{circuit_id}/tests", { params: byId("circuit_id", cid), body })) as Promise<unknown> as Promise<Job>,
};

/** Download links (files, not JSON). */
const enc = encodeURIComponent;
export const exportPaths = {
  circuit: (id: number, fmt: string) => `/api/export/circuits/${id}?format=${fmt}`,
  labels: (m: string, fmt: string) => `/api/export/labels/${enc(m)}?format=${fmt}`,
  project: () => `/api/export/project`,
};

// --- who am I (a tiny store shared by the nav bar and every page) ----------------------------------

let me: Me | undefined;
let meError: string | undefined;
const listeners = new Set<() => void>();
let loading: Promise<void> | null = null;

function emit() {
  for (const l of listeners) l();
}

export function refreshMe(): Promise<void> {
  loading = (data(api.GET("/api/auth/me")) as Promise<Me>)
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

