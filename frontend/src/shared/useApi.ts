import { useEffect, useState } from "react";
import { ApiError, cached, fetchCached, onInvalidate } from "./api/client";

export interface ApiState<T> {
  data: T | undefined;
  error: ApiError | undefined;
  loading: boolean;
}

/** Fetch a JSON resource (cached in memory); `url = null` fetches nothing. Re-fetches when url changes. */
export function useApi<T>(url: string | null): ApiState<T> {
  // Bumped when a write invalidates this url's cached response: fetch it again (the old data stays shown).
  const [generation, setGeneration] = useState(0);
  useEffect(() => {
    if (!url) return;
    return onInvalidate((prefix) => url.startsWith(prefix) && setGeneration((g) => g + 1));
  }, [url]);
  const [state, setState] = useState<ApiState<T>>(() => {
    const hit = url ? cached<T>(url) : undefined;
    return { data: hit, error: undefined, loading: !!url && hit === undefined };
  });
  useEffect(() => {
    if (!url) {
      setState({ data: undefined, error: undefined, loading: false });
      return;
    }
    const hit = cached<T>(url);
    if (hit !== undefined) {
      setState({ data: hit, error: undefined, loading: false });
      return;
    }
    let live = true;
    setState((s) => ({ data: s.data, error: undefined, loading: true }));
    fetchCached<T>(url).then(
      (data) => live && setState({ data, error: undefined, loading: false }),
      (err) =>
        live &&
        setState({
          data: undefined,
          error: err instanceof ApiError ? err : new ApiError(0, String(err)),
          loading: false,
        }),
    );
    return () => {
      live = false;
    };
  }, [url, generation]);
  return state;
}

/** Set the browser tab title while a page is shown. */
export function useTitle(title: string): void {
  useEffect(() => {
    document.title = title ? `${title} — circuitscope` : "circuitscope";
  }, [title]);
}
