// Typed client for the jobs and sources API (backend/circuitscope/api/schemas/jobs.py mirrors these types).
import { getJson, requestJson } from "../api";

export type JobStatus = "queued" | "running" | "done" | "failed" | "cancelled";

export interface SkippedImage {
  ref: string;
  reason: string;
}

export interface JobSummary {
  layers?: string[];
  skipped_images?: SkippedImage[];
  skipped_count?: number;
  stages_skipped?: string[];
  timings?: Record<string, number>;
  traceback?: string;
  [key: string]: unknown;
}

export interface Job {
  id: number;
  status: JobStatus;
  stage: string;
  layer: string | null;
  done: number;
  total: number;
  eta_seconds: number | null;
  error: string | null;
  summary: JobSummary;
  config: RunDescription;
  run_id: number | null;
  model_slug: string | null;
  created_by: string | null;
  cancel_requested: boolean;
  attempts: number;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
}

/** The run description (compute/config.py RunConfig) as stored with the job. */
export interface RunDescription {
  model: Record<string, unknown>;
  dataset: Record<string, unknown>;
  layers: string[];
  model_slug?: string | null;
  device?: string;
  engine?: "local" | "ray";
  examples?: Record<string, unknown>;
  featurevis?: Record<string, unknown>;
  weights?: Record<string, unknown>;
}

export interface BrowseEntry {
  name: string;
  path: string;
  kind: "dir" | "file";
}

export interface BrowseOut {
  path: string;
  parent: string | null;
  entries: BrowseEntry[];
  roots: string[];
}

export interface DiscoveredLayer {
  name: string;
  module_type: string;
  output_shape: number[] | null;
  channels: number | null;
}

export interface DiscoverOut {
  name: string;
  input_size: number;
  class_count: number | null;
  layers: DiscoveredLayer[];
}

export interface DatasetCheckOut {
  num_images: number;
  classes: string[];
  unreadable: SkippedImage[];
  sample_refs: string[];
}

const enc = encodeURIComponent;

export const jobsApi = {
  jobs: (limit = 50) => `/api/jobs?limit=${limit}`,
  job: (id: number | string) => `/api/jobs/${enc(String(id))}`,
  cancel: (id: number | string) => `/api/jobs/${enc(String(id))}/cancel`,
  events: (id: number | string) => `/api/jobs/${enc(String(id))}/events`,
  browse: (path?: string) => (path ? `/api/sources/browse?path=${enc(path)}` : `/api/sources/browse`),
  layers: () => `/api/sources/layers`,
  dataset: () => `/api/sources/dataset`,
};

export const jobPaths = {
  list: () => `/jobs`,
  job: (id: number | string) => `/jobs/${enc(String(id))}`,
  create: () => `/compute/new`,
};

/** Fired on window when a page learns that a job changed status (the nav badge and job list refresh at once). */
export const JOBS_CHANGED = "circuitscope:jobs-changed";
export const announceJobsChanged = () => window.dispatchEvent(new Event(JOBS_CHANGED));

export const ACTIVE: JobStatus[] = ["queued", "running"];
export const isActive = (j: Pick<Job, "status">) => ACTIVE.includes(j.status);

/** GET without the shared cache (job state changes all the time). */
export function getFresh<T>(url: string, signal?: AbortSignal): Promise<T> {
  return getJson<T>(url, signal);
}

/** POST JSON; throws ApiError carrying the server's message ({"detail": ...}). */
export function postJson<T>(url: string, body: unknown, signal?: AbortSignal): Promise<T> {
  return requestJson<T>("POST", url, { body, signal, allowEmpty: true });
}

/** Server timestamps: ISO, with or without a zone (SQLite drops it; they are UTC). */
export function parseTime(s: string | null | undefined): Date | null {
  if (!s) return null;
  const hasZone = /[zZ]|[+-]\d\d:?\d\d$/.test(s.slice(10));
  const d = new Date(hasZone ? s : `${s}Z`);
  return Number.isNaN(d.getTime()) ? null : d;
}

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

export function fmtTime(s: string | null | undefined): string {
  const d = parseTime(s);
  if (!d) return "–";
  const today = new Date();
  const sameDay = d.toDateString() === today.toDateString();
  return sameDay ? d.toLocaleTimeString() : d.toLocaleString();
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
