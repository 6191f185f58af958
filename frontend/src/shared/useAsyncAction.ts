import { useCallback, useEffect, useRef, useState } from "react";

export interface AsyncAction<A extends unknown[], R> {
  /** Runs the action; while a run is in flight a second call does nothing and resolves to undefined (no double
   * submit, even for two clicks before the button re-renders as disabled). Resolves to undefined on error. */
  run: (...args: A) => Promise<R | undefined>;
  pending: boolean;
  /** The last run's error, null when it succeeded (or none ran). */
  error: unknown;
  /** The last successful run's result; kept while a new run is pending, cleared by an error. */
  result: R | null;
  /** Forget the error and result (not while a run is in flight). */
  reset: () => void;
}

interface State<R> {
  pending: boolean;
  error: unknown;
  result: R | null;
}

const IDLE: State<never> = { pending: false, error: null, result: null };

/** A button's request: pending / error / result around an async function, one run at a time. */
export function useAsyncAction<A extends unknown[], R>(action: (...args: A) => Promise<R>): AsyncAction<A, R> {
  const [state, setState] = useState<State<R>>(IDLE);
  const inFlight = useRef(false);
  const mounted = useRef(true);
  // the latest action, so `run` stays one stable function while the action closes over fresh props
  const latest = useRef(action);
  useEffect(() => {
    latest.current = action;
  });
  useEffect(() => {
    mounted.current = true;
    return () => {
      mounted.current = false;
    };
  }, []);

  const run = useCallback(async (...args: A): Promise<R | undefined> => {
    if (inFlight.current) return undefined;
    inFlight.current = true;
    setState((s) => ({ ...s, pending: true, error: null }));
    try {
      const result = await latest.current(...args);
      if (mounted.current) setState({ pending: false, error: null, result });
      return result;
    } catch (error) {
      if (mounted.current) setState({ pending: false, error, result: null });
      return undefined;
    } finally {
      inFlight.current = false;
    }
  }, []);

  const reset = useCallback(() => {
    if (!inFlight.current) setState(IDLE);
  }, []);

  return { ...state, run, reset };
}
