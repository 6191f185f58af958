// The one API client: types generated from the backend's /openapi.json (schema.d.ts, by scripts/gen_api.sh)
// and calls through openapi-fetch, so a path, parameter or field the backend does not have is a type error.
import { QueryClient } from "@tanstack/react-query";
import createFetchClient, { type Middleware } from "openapi-fetch";
import createQueryClient from "openapi-react-query";
import type { components, paths } from "./schema";

/** Every response and request model of the API, by its pydantic class name. */
export type Schemas = components["schemas"];
export type { paths };

/** An HTTP error from the API; `detail` is the server's message (always JSON {"detail": ...}); `body` the
 * whole answer (a 409 carries `current`). Status 0: the server could not be reached. */
export class ApiError extends Error {
  constructor(public status: number, public detail: string, public body: Record<string, unknown> = {}) {
    super(detail);
  }
}

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

async function toApiError(response: Response): Promise<ApiError> {
  const text = await response.clone().text();
  let parsed: unknown = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = null;
  }
  const body = (parsed && typeof parsed === "object" ? parsed : {}) as Record<string, unknown>;
  const detail =
    typeof body.detail === "string"
      ? body.detail
      : Array.isArray(body.detail)
        ? JSON.stringify(body.detail)
        : `${response.status} ${response.statusText}${text && !parsed ? `: ${text.slice(0, 300)}` : ""}`;
  return new ApiError(response.status, detail, body);
}

// Every failure becomes one ApiError, thrown: callers await data and catch one type.
const throwApiErrors: Middleware = {
  async onResponse({ response }) {
    if (!response.ok) throw await toApiError(response);
    return undefined;
  },
  onError({ error }) {
    if (error instanceof ApiError || (error as Error)?.name === "AbortError") return error as Error;
    return new ApiError(0, `Cannot reach the circuitscope server (${errorText(error)}). Is \`circuitscope serve\` running?`);
  },
};

/** openapi-fetch client: `await api.GET("/api/models/{model}", { params: { path: { model } } })`. */
export const api = createFetchClient<paths>({ baseUrl: "", credentials: "same-origin", headers: { Accept: "application/json" } });
api.use(throwApiErrors);

/** The same calls as react-query options (cached, polled): see shared/useResource.ts. */
export const $api = createQueryClient(api);

/** The response's data (the middleware has already thrown for errors). */
export async function data<T>(request: Promise<{ data?: T; response: Response }>): Promise<T> {
  const { data: d } = await request;
  return d as T;
}

/** The app's cache of GET responses. Browse data changes only when a run or a write changes it, so it
 * stays fresh until invalidated; resources that change under you ask for `fresh` (useResource). */
export const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      staleTime: Infinity,
      gcTime: 30 * 60_000,
      retry: false,
      refetchOnWindowFocus: false,
      refetchOnReconnect: false,
    },
  },
});

/** After a write (a label, a finished run): every cached response is refetched where shown, and on next use
 * elsewhere, so grids, unit pages and the header show the change at once. */
export function afterWrite(): void {
  void queryClient.invalidateQueries();
}

/** Forget the cached GETs whose API path starts with `prefix` ("/api/models"): refetched where shown. */
export function invalidate(prefix: string): void {
  void queryClient.invalidateQueries({ predicate: (q) => String(q.queryKey[1] ?? "").startsWith(prefix) });
}
