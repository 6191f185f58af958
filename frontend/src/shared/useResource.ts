import { keepPreviousData, skipToken, useQuery, useQueryClient, type Query, type QueryKey } from "@tanstack/react-query";
import { useEffect } from "react";
import { ApiError, queryClient } from "./api/client";

/** A GET as react-query options: what `$api.queryOptions("get", path, init)` returns. */
export interface ResourceQuery<T> {
  queryKey: QueryKey;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  queryFn: (context: any) => T | Promise<T>;
}

export interface ResourceOptions<T> {
  /** Changes under you (labels, circuits, jobs): fetched on every mount, never shared from the cache. */
  fresh?: boolean;
  /** Poll every N ms (or as `data` says; false stops). Polling stops on 401/403/404: asking again will not help. */
  pollMs?: number | ((data: T | undefined) => number | false);
  /** Keep showing the previous resource's data while the next one loads (keyboard navigation); default true. */
  keepPrevious?: boolean;
}

export interface Resource<T> {
  data: T | undefined;
  error: ApiError | undefined;
  loading: boolean;
  /** Fetch again now. */
  reload: () => void;
  /** Replace the data (a write's answer is fresher than a refetch). */
  set: (data: T) => void;
  /** When the data arrived (Date.now()). */
  updatedAt: number;
}

const HOPELESS = [401, 403, 404];

/** The one data hook: a GET through the generated client, cached (browse data stays until a write
 * invalidates it), optionally fresh or polled. `query = null` fetches nothing. */
export function useResource<T>(query: ResourceQuery<T> | null, opts: ResourceOptions<T> = {}): Resource<T> {
  const { fresh = false, pollMs, keepPrevious = true } = opts;
  const client = useQueryClient();
  const result = useQuery<T, ApiError, T, QueryKey>({
    queryKey: query?.queryKey ?? ["none"],
    queryFn: query ? query.queryFn : skipToken,
    ...(fresh ? { staleTime: 0, gcTime: 0 } : {}),
    placeholderData: keepPrevious ? keepPreviousData : undefined,
    refetchInterval:
      pollMs === undefined
        ? false
        : (q: Query<T, ApiError, T, QueryKey>) => {
            const err = q.state.error;
            if (err && HOPELESS.includes(err.status)) return false;
            return typeof pollMs === "function" ? pollMs(q.state.data) : pollMs;
          },
  });
  const error = result.error ? (result.error instanceof ApiError ? result.error : new ApiError(0, String(result.error))) : undefined;
  return {
    data: query ? result.data : undefined,
    error: query ? error ?? undefined : undefined,
    loading: !!query && result.isFetching && (result.data === undefined || result.isPlaceholderData),
    reload: () => void result.refetch(),
    set: (d: T) => query && client.setQueryData(query.queryKey, d),
    updatedAt: result.dataUpdatedAt,
  };
}

/** Warm the cache (neighbouring units) without surfacing errors. */
export function prefetch<T>(query: ResourceQuery<T>): void {
  void queryClient.prefetchQuery(query);
}

/** Fetch through the cache outside a component (a layer grid's pages). */
export function fetchCached<T>(query: ResourceQuery<T>): Promise<T> {
  return queryClient.fetchQuery(query);
}

/** Set the browser tab title while a page is shown. */
export function useTitle(title: string): void {
  useEffect(() => {
    document.title = title ? `${title} — circuitscope` : "circuitscope";
  }, [title]);
}
