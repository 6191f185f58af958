// The annotation feature's API (backend/circuitscope/api/routes/annotate.py and sessions.py): generated types,
// and the queries and calls through the generated client (paths, parameters, bodies and answers are checked
// against /openapi.json).
import { useSyncExternalStore } from "react";
import { $api, api, data, type paths, type Schemas } from "../../shared/api/client";
import type { Job } from "../jobs/jobsApi";
import type { TestDoc } from "./CircuitTestPanel";

export type Role = Schemas["Role"];
export type User = Schemas["IdentityOut"];
export type Me = Schemas["MeOut"];
export type LabelStatus = Schemas["LabelStatus"];
export type Label = Schemas["LabelOut"];
export type Consensus = Schemas["ConsensusOut"];
export type FamilySummary = Schemas["FamilySummary"];
export type Family = Schemas["FamilyOut"];
export type CircuitSummary = Schemas["CircuitSummary"];
export type CircuitStatus = Schemas["CircuitStatus"];
export type UnitLabels = Schemas["UnitLabelsOut"];
export type LabelRevision = Schemas["LabelRevisionOut"];
export type CircuitRevision = Schemas["CircuitRevisionOut"];
export type CircuitNode = Schemas["CircuitNodeOut"];
export type CircuitEdge = Schemas["CircuitEdgeOut"];
export type Supernode = Schemas["Supernode"];
export type Circuit = Schemas["CircuitOut"];
export type Suggestion = Schemas["Suggestion"];
export type Suggestions = Schemas["SuggestionsOut"];
export type SearchResult = Schemas["SearchResult"];
export type SearchPage = Schemas["SearchOut"];
export type LayerAgreement = Schemas["LayerAgreement"];
export type Token = Schemas["TokenOut"];
export type UserRow = Schemas["UserOut"];
/** A browser session (GET /api/auth/sessions): a token of kind "session"; `current` is this browser's. */
export type SessionRow = Schemas["SessionOut"];

type Q<T> = { queryKey: readonly unknown[]; queryFn: () => Promise<T> };
const cast = <T,>(q: unknown) => q as Q<T>;
type UnitPath = { model: string; layer: string; index: number };
const unit = (model: string, layer: string, index: number): { path: UnitPath } => ({ path: { model, layer, index } });

/** GET queries (for useResource with `fresh`: annotation data changes under you). */
export const annotateQueries = {
  sessions: () => $api.queryOptions("get", "/api/auth/sessions"),
  tokens: () => $api.queryOptions("get", "/api/auth/tokens"),
  users: () => $api.queryOptions("get", "/api/users"),
  labels: (m: string, l: string, i: number) => $api.queryOptions("get", "/api/labels/{model}/{layer}/{index}", { params: unit(m, l, i) }),
  /** `version` is part of the key: a new revision fetches the history again. */
  labelHistory: (m: string, l: string, i: number, version: string) => {
    const q = $api.queryOptions("get", "/api/labels/{model}/{layer}/{index}/history", { params: unit(m, l, i) });
    return { ...q, queryKey: [...q.queryKey, version] };
  },
  agreement: (m: string) => $api.queryOptions("get", "/api/agreement/{model}", { params: { path: { model: m } } }),
  queue: (m: string, l: string, mode: "any" | "mine", after: number) =>
    $api.queryOptions("get", "/api/queue/{model}/{layer}", { params: { path: { model: m, layer: l }, query: { mode, after, limit: 50 } } }),
  search: (query: SearchQuery) => $api.queryOptions("get", "/api/search", { params: { query } }),
  annotators: () => $api.queryOptions("get", "/api/annotators"),
  families: (m?: string) => $api.queryOptions("get", "/api/families", { params: { query: m ? { model: m } : {} } }),
  familyMap: (m: string, l: string) => $api.queryOptions("get", "/api/family-map/{model}/{layer}", { params: { path: { model: m, layer: l } } }),
  circuits: (query: NonNullable<paths["/api/circuits"]["get"]["parameters"]["query"]> = {}) =>
    $api.queryOptions("get", "/api/circuits", { params: { query } }),
  circuit: (id: number) => $api.queryOptions("get", "/api/circuits/{circuit_id}", { params: { path: { circuit_id: id } } }),
  unitSuggestions: (m: string, l: string, i: number, limit: number) =>
    $api.queryOptions("get", "/api/suggestions/{model}/{layer}/{index}", { params: { ...unit(m, l, i), query: { limit } } }),
  circuitHistory: (id: number) => $api.queryOptions("get", "/api/circuits/{circuit_id}/history", { params: { path: { circuit_id: id } } }),
};

export type SearchQuery = NonNullable<paths["/api/search"]["get"]["parameters"]["query"]>;

const byId = <K extends string>(key: K, id: number) => ({ path: { [key]: id } as Record<K, number> });

/** Writes (each throws ApiError; a 409 carries the current version in `body.current`). */
export const annotateCalls = {
  login: (body: Schemas["LoginIn"]) => data(api.POST("/api/auth/login", { body })),
  logout: () => data(api.POST("/api/auth/logout")),
  revokeSession: (id: number) => data(api.DELETE("/api/auth/sessions/{session_id}", { params: byId("session_id", id) })),
  revokeOtherSessions: () => data(api.POST("/api/auth/sessions/revoke-others")),
  createToken: (body: Schemas["TokenIn"]) => data(api.POST("/api/auth/tokens", { body })),
  revokeToken: (id: number) => data(api.DELETE("/api/auth/tokens/{token_id}", { params: byId("token_id", id) })),
  createUser: (body: Schemas["UserCreateIn"]) => data(api.POST("/api/users", { body })),
  patchUser: (name: string, body: Schemas["UserPatchIn"]) => data(api.PATCH("/api/users/{name}", { params: { path: { name } }, body })),
  saveLabel: (m: string, l: string, i: number, body: Schemas["LabelIn"]) =>
    data(api.PUT("/api/labels/{model}/{layer}/{index}", { params: unit(m, l, i), body })),
  adoptSuggestion: (m: string, l: string, i: number, body: Schemas["AdoptIn"]) =>
    data(api.POST("/api/labels/{model}/{layer}/{index}/adopt-suggestion", { params: unit(m, l, i), body })),
  deleteLabel: (id: number, version: number) =>
    data(api.DELETE("/api/labels-by-id/{label_id}", { params: { path: { label_id: id }, query: { version } } })),
  family: (id: number) => data(api.GET("/api/families/{family_id}", { params: byId("family_id", id) })),
  createFamily: (body: Schemas["FamilyIn"]) => data(api.POST("/api/families", { body })),
  patchFamily: (id: number, body: Schemas["FamilyPatchIn"]) => data(api.PATCH("/api/families/{family_id}", { params: byId("family_id", id), body })),
  familyMembers: (id: number, body: Schemas["FamilyMembersIn"]) =>
    data(api.POST("/api/families/{family_id}/members", { params: byId("family_id", id), body })),
  deleteFamily: (id: number, version: number) =>
    data(api.DELETE("/api/families/{family_id}", { params: { path: { family_id: id }, query: { version } } })),
  circuit: (id: number) => data(api.GET("/api/circuits/{circuit_id}", { params: byId("circuit_id", id) })),
  createCircuit: (body: Schemas["CircuitIn"]) => data(api.POST("/api/circuits", { body })),
  patchCircuit: (id: number, body: Schemas["CircuitPatchIn"]) =>
    data(api.PATCH("/api/circuits/{circuit_id}", { params: byId("circuit_id", id), body })),
  addNodes: (id: number, body: Schemas["CircuitNodesIn"]) =>
    data(api.POST("/api/circuits/{circuit_id}/nodes", { params: byId("circuit_id", id), body })),
  removeNodes: (id: number, body: Schemas["CircuitRemoveIn"]) =>
    data(api.POST("/api/circuits/{circuit_id}/nodes/remove", { params: byId("circuit_id", id), body })),
  patchNode: (id: number, key: string, body: Schemas["NodePatchIn"]) =>
    data(api.PATCH("/api/circuits/{circuit_id}/nodes/{key}", { params: { path: { circuit_id: id, key } }, body })),
  refreshEdges: (id: number, body: Schemas["RefreshIn"]) =>
    data(api.POST("/api/circuits/{circuit_id}/refresh-edges", { params: byId("circuit_id", id), body })),
  deleteCircuit: (id: number, version: number) =>
    data(api.DELETE("/api/circuits/{circuit_id}", { params: { path: { circuit_id: id }, query: { version } } })),
  circuitSuggestions: (id: number) =>
    data(api.GET("/api/circuits/{circuit_id}/suggestions", { params: { path: { circuit_id: id }, query: { limit: 8 } } })),
  /** Import files are sent as they are (JSON text the server validates). */
  importProject: (text: string, allowMissing: boolean) =>
    data(
      api.POST("/api/import/project", {
        params: { query: { allow_missing_units: allowMissing } },
        body: text as never,
        bodySerializer: (b: unknown) => b as string,
        headers: { "Content-Type": "application/json" },
      }),
    ),
  importCircuit: (text: string) =>
    data(
      api.POST("/api/import/circuit", { body: text as never, bodySerializer: (b: unknown) => b as string, headers: { "Content-Type": "application/json" } }),
    ),
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

