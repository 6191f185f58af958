// The form's three requests, in one place (the page and its sections do not build URLs or bodies).
import { jobsApi, postJson, type DatasetCheckOut, type DiscoverOut, type Job, type RunDescription } from "../jobsApi";

/** "Discover layers": POST /api/sources/layers {model}. */
export const discoverLayers = (model: Record<string, unknown>) => postJson<DiscoverOut>(jobsApi.layers(), { model });

/** "Check": POST /api/sources/dataset {dataset}. */
export const checkDataset = (dataset: Record<string, unknown>) => postJson<DatasetCheckOut>(jobsApi.dataset(), { dataset });

/** "Start": POST /api/jobs with the run description. */
export const submitJob = (description: RunDescription) => postJson<Job>(jobsApi.jobs(), description);
