// The jobs feature's API: generated types (api/schemas/jobs.py), queries and calls.
import { $api, api, data, queryClient, type Schemas } from "../../shared/api/client";
import { parseTime } from "../../shared/format";

export type JobStatus = Schemas["JobStatus"];

export interface SkippedImage {
  ref: string;
  reason: string;
}

// Narrower than the schema: JobOut.config and .summary are dicts in api/schemas/jobs.py; config is the
// RunConfig the job was queued with, summary what the worker writes (jobs/worker.py).
export interface JobSummary {
  layers?: string[];
  skipped_images?: SkippedImage[];
  skipped_count?: number;
  stages_skipped?: string[];
  timings?: Record<string, number>;
  traceback?: string;
  [key: string]: unknown;
}

/** The run description (compute/config.py RunConfig): the job body, and the job's `config`. */
export type RunDescription = Schemas["RunConfig"];

export type Job = Omit<Schemas["JobOut"], "config" | "summary"> & { config: RunDescription; summary: JobSummary };
export type BrowseEntry = Schemas["BrowseEntry"];
export type BrowseOut = Schemas["BrowseOut"];
export type DiscoveredLayer = Schemas["LayerOut"];
export type DiscoverOut = Schemas["DiscoverOut"];
export type DatasetCheckOut = Schemas["DatasetCheckOut"];

const asJob = (j: Schemas["JobOut"]) => j as unknown as Job;

type Q<T> = { queryKey: readonly unknown[]; queryFn: () => Promise<T> };
const cast = <T,>(q: unknown) => q as Q<T>;

/** GET queries for useResource. */
export const jobQueries = {
  jobs: (limit = 50) => cast<Job[]>($api.queryOptions("get", "/api/jobs", { params: { query: { limit } } })),
  // the id as typed in the address bar: the server, not the browser, answers "not a job id"
  job: (id: number | string) => cast<Job>($api.queryOptions("get", "/api/jobs/{job_id}", { params: { path: { job_id: id as number } } })),
};

/** Calls (each throws ApiError with the server's message). */
export const jobCalls = {
  cancel: (id: number) => data(api.POST("/api/jobs/{job_id}/cancel", { params: { path: { job_id: id } } })).then(asJob),
  browse: (path?: string) => data(api.GET("/api/sources/browse", { params: { query: path ? { path } : {} } })),
  discoverLayers: (model: Record<string, unknown>) => data(api.POST("/api/sources/layers", { body: { model } })),
  checkDataset: (dataset: Record<string, unknown>) => data(api.POST("/api/sources/dataset", { body: { dataset } })),
  create: (description: RunDescription) => data(api.POST("/api/jobs", { body: description })).then(asJob),
};

/** The server-sent events of one job (EventSource cannot go through fetch). */
export const jobEventsUrl = (id: number | string) => `/api/jobs/${encodeURIComponent(String(id))}/events`;

const enc = encodeURIComponent;

export const jobPaths = {
  list: () => `/jobs`,
  job: (id: number | string) => `/jobs/${enc(String(id))}`,
  create: () => `/compute/new`,
};

/** A page learned that a job changed status: the nav badge and the job list refresh at once. */
export const announceJobsChanged = () => void queryClient.invalidateQueries({ queryKey: ["get", "/api/jobs"], exact: false });

export const ACTIVE: JobStatus[] = ["queued", "running"];
export const isActive = (j: Pick<Job, "status">) => ACTIVE.includes(j.status);

export function fmtDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "–";
  if (seconds < 9.95) return `${Math.max(0, seconds).toFixed(1)} s`;
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60 ? `${s % 60} s` : ""}`.trim();
  const h = Math.floor(m / 60);
  return `${h} h ${m % 60} min`;
}

/** Seconds between two server timestamps (to now when `end` is empty). */
export function elapsed(start: string | null, end: string | null): number | null {
  const a = parseTime(start);
  if (!a) return null;
  const b = parseTime(end) ?? new Date();
  return (b.getTime() - a.getTime()) / 1000;
}

/** fnmatch-style glob (* ? [..]) -> RegExp over a whole dotted layer name, as the backend resolves patterns. */
export function globToRegExp(glob: string): RegExp {
  let re = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === "*") re += ".*";
    else if (c === "?") re += ".";
    else if (c === "[") {
      const close = glob.indexOf("]", i + 1);
      if (close < 0) re += "\\[";
      else {
        let body = glob.slice(i + 1, close);
        if (body.startsWith("!")) body = `^${body.slice(1)}`;
        re += `[${body.replace(/\\/g, "\\\\")}]`;
        i = close;
      }
    } else re += c.replace(/[.+^${}()|\\\]]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}

export const isPattern = (s: string) => /[*?[]/.test(s);

/** Which of `names` a list of layer names or glob patterns selects. */
export function matchLayers(patterns: string[], names: string[]): string[] {
  const res = patterns.map((p) => (isPattern(p) ? globToRegExp(p) : null));
  return names.filter((n) => patterns.some((p, i) => (res[i] ? res[i]!.test(n) : p === n)));
}
