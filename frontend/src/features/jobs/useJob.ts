import { useEffect, useRef, useState } from "react";
import { queryClient, type ApiError } from "../../shared/api/client";
import { useResource } from "../../shared/useResource";
import { announceJobsChanged, isActive, jobEventsUrl, jobQueries, type Job } from "./jobsApi";

const POLL_MS = 2000;
const HOPELESS = [401, 403, 404];

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

/** A job's state, live: the job resource (shared/useResource), kept current by the Server-Sent Events of
 * /api/jobs/{id}/events, and polled every 2 s when the stream is unavailable (a buffering proxy, a restart). */
export function useJob(id: string): JobState {
  const query = jobQueries.job(id);
  const [stream, setStream] = useState<"connecting" | "live" | "failed">("connecting");
  const resource = useResource(query, {
    fresh: true,
    keepPrevious: false,
    pollMs: (job) => (stream === "failed" && (!job || isActive(job)) ? POLL_MS : false),
  });
  const { data: job, error } = resource;

  useEffect(() => {
    let live = true;
    setStream("connecting");
    if (typeof EventSource === "undefined") {
      setStream("failed");
      return;
    }
    let es: EventSource | null = new EventSource(jobEventsUrl(id));
    const stop = () => {
      es?.close(); // the server ends the stream; do not let EventSource reconnect
      es = null;
    };
    es.onmessage = (ev) => {
      if (!live) return;
      try {
        const j = JSON.parse(ev.data) as Job;
        queryClient.setQueryData(query.queryKey, j);
        setStream("live");
        if (!isActive(j)) stop();
      } catch {
        stop();
        setStream("failed");
      }
    };
    es.onerror = () => {
      if (!live || !es) return;
      stop();
      setStream("failed");
    };
    return () => {
      live = false;
      stop();
    };
    // query.queryKey is derived from id
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [id]);

  const lastStatus = useRef<string | undefined>(undefined);
  useEffect(() => {
    if (job && lastStatus.current !== undefined && lastStatus.current !== job.status) announceJobsChanged();
    lastStatus.current = job?.status;
  }, [job]);

  const mode: JobState["mode"] =
    (job && !isActive(job)) || (error && HOPELESS.includes(error.status)) ? "idle" : stream === "live" ? "live" : stream === "failed" ? "polling" : "connecting";
  return {
    job,
    error,
    mode,
    receivedAt: resource.updatedAt,
    set: (j: Job) => {
      resource.set(j);
      // after a cancel request while polling: look again soon
      if (stream === "failed") resource.reload();
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
