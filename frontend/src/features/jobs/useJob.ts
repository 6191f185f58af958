import { useEffect, useRef, useState } from "react";
import { ApiError } from "../../shared/api/client";
import { announceJobsChanged, getFresh, isActive, jobsApi, type Job } from "./jobsApi";

const POLL_MS = 2000;

export interface JobState {
  job: Job | undefined;
  error: ApiError | undefined;
  /** "live": Server-Sent Events; "polling": fallback every 2 s; "idle": the job has ended. */
  mode: "live" | "polling" | "idle" | "connecting";
  /** When the current state arrived (Date.now()), to count the ETA down between updates. */
  receivedAt: number;
  /** Replace the state (after a cancel request, whose answer is fresher than the stream). */
  set: (job: Job) => void;
}

/** A job's state, live: EventSource on /api/jobs/{id}/events, falling back to polling every 2 s. */
export function useJob(id: string): JobState {
  const [job, setJob] = useState<Job | undefined>(undefined);
  const [error, setError] = useState<ApiError | undefined>(undefined);
  const [mode, setMode] = useState<JobState["mode"]>("connecting");
  const [receivedAt, setReceivedAt] = useState(0);
  const kick = useRef<() => void>(() => undefined);
  const lastStatus = useRef<string | undefined>(undefined);
  useEffect(() => {
    if (job && lastStatus.current !== undefined && lastStatus.current !== job.status) announceJobsChanged();
    lastStatus.current = job?.status;
  }, [job]);

  useEffect(() => {
    let live = true;
    let es: EventSource | null = null;
    let timer: number | undefined;
    const ctrl = new AbortController();
    setJob(undefined);
    setError(undefined);
    setMode("connecting");

    const poll = async () => {
      if (!live) return;
      try {
        const j = await getFresh<Job>(jobsApi.job(id), ctrl.signal);
        if (!live) return;
        setJob(j);
        setReceivedAt(Date.now());
        setError(undefined);
        if (!isActive(j)) {
          setMode("idle");
          return;
        }
      } catch (err) {
        if (!live || (err as Error).name === "AbortError") return;
        const e = err instanceof ApiError ? err : new ApiError(0, String(err));
        setError(e);
        if (e.status === 404 || e.status === 401 || e.status === 403) {
          setMode("idle");
          return; // polling again will not change the answer
        }
      }
      setMode("polling");
      timer = window.setTimeout(poll, POLL_MS);
    };

    const startPolling = () => {
      es?.close();
      es = null;
      if (timer === undefined) poll();
    };
    kick.current = () => {
      // after a cancel request while polling: look again soon
      if (timer !== undefined) {
        window.clearTimeout(timer);
        timer = undefined;
        poll();
      }
    };

    if (typeof EventSource === "undefined") {
      startPolling();
    } else {
      es = new EventSource(jobsApi.events(id));
      es.onmessage = (ev) => {
        if (!live) return;
        try {
          const j = JSON.parse(ev.data) as Job;
          setJob(j);
          setReceivedAt(Date.now());
          setError(undefined);
          if (isActive(j)) setMode("live");
          else {
            setMode("idle");
            es?.close(); // the server ends the stream; do not let EventSource reconnect
            es = null;
          }
        } catch {
          startPolling();
        }
      };
      es.onerror = () => {
        // A proxy that buffers or cuts streams, a 404, or a server restart: poll instead (it reports 404s).
        if (!live || !es) return;
        startPolling();
      };
    }
    return () => {
      live = false;
      ctrl.abort();
      es?.close();
      if (timer !== undefined) window.clearTimeout(timer);
    };
  }, [id]);

  return {
    job,
    error,
    mode,
    receivedAt,
    set: (j: Job) => {
      setJob(j);
      setReceivedAt(Date.now());
      kick.current();
    },
  };
}

/** Re-render every `ms` while `on` (elapsed times and ETAs that count down between updates). */
export function useTick(on: boolean, ms = 1000): number {
  const [t, setT] = useState(0);
  useEffect(() => {
    if (!on) return;
    const h = window.setInterval(() => setT((x) => x + 1), ms);
    return () => window.clearInterval(h);
  }, [on, ms]);
  return t;
}
