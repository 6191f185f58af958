import { useEffect, useState } from "react";
import { fetchCached } from "../../shared/useResource";
import { browseQueries, type ModelSummary } from "../browse/browseApi";
import { jobQueries, type Job, type RunDescription } from "./jobsApi";

/** Feature-vis renders per unit for a run description: one per objective, diversity_n for "diversity". */
export function rendersPerUnit(d: RunDescription): number {
  const fv = (d.featurevis ?? {}) as { enabled?: boolean; objectives?: string[]; diversity_n?: number };
  if (fv.enabled === false) return 0;
  const objectives = fv.objectives ?? ["channel", "neuron", "negative", "diversity"];
  return objectives.reduce((n, o) => n + (o === "diversity" ? fv.diversity_n ?? 4 : 1), 0);
}

export function stepsOf(d: RunDescription): number {
  return Number((d.featurevis as { steps?: number } | undefined)?.steps ?? 512);
}

/** Jobs with fewer steps are dominated by per-render overhead (model setup, image writes): not a measure of
 * the per-step cost. */
const MIN_STEPS_TO_MEASURE = 64;

/** Seconds per (render × step), measured from finished jobs on this server that rendered feature vis with at
 * least MIN_STEPS_TO_MEASURE steps (jobs that reused every render are left out). Null when none has. */
export function measuredSecondsPerStep(jobs: Job[], models: ModelSummary[]): { seconds: number; jobs: number } | null {
  const channels = new Map<string, number>();
  for (const m of models) for (const l of m.layers) channels.set(`${m.slug}/${l.name}`, l.channels);
  let seconds = 0;
  let work = 0;
  let used = 0;
  for (const j of jobs) {
    const fvSeconds = j.summary.timings?.featurevis;
    if (j.status !== "done" || !fvSeconds || !j.model_slug || stepsOf(j.config) < MIN_STEPS_TO_MEASURE) continue;
    const layers = (j.summary.layers ?? []).filter((l) => !(j.summary.stages_skipped ?? []).includes(`featurevis:${l}`));
    const units = layers.reduce((n, l) => n + (channels.get(`${j.model_slug}/${l}`) ?? 0), 0);
    const steps = units * rendersPerUnit(j.config) * stepsOf(j.config);
    if (steps <= 0) continue;
    seconds += fvSeconds;
    work += steps;
    used += 1;
  }
  return used ? { seconds: seconds / work, jobs: used } : null;
}

export function duration(s: number): string {
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

/** Above this many estimated seconds (or, unmeasured, this many render steps) Start asks first. */
const CONFIRM_SECONDS = 15 * 60;
const CONFIRM_STEPS = 200_000;

/** The Start button with a cost estimate (units × renders × steps × measured seconds per render-step) that
 * asks for confirmation above a threshold, and a warning when the model name is already taken. */
export function StartGuard({
  description,
  units,
  slug,
  submitting,
  hasProblems,
  onStart,
}: {
  description: RunDescription;
  /** Units of the selected layers; null until the model's layers are known (Discover). */
  units: number | null;
  slug: string;
  submitting: boolean;
  /** The form has problems: Start shows them (no confirmation first). */
  hasProblems: boolean;
  onStart: () => void;
}) {
  const [jobs, setJobs] = useState<Job[] | null>(null);
  const [models, setModels] = useState<ModelSummary[] | null>(null);
  const [confirming, setConfirming] = useState(false);
  useEffect(() => {
    fetchCached(jobQueries.jobs(100)).then(setJobs, () => setJobs([]));
    fetchCached(browseQueries.models()).then(setModels, () => setModels([]));
  }, []);
  const renders = rendersPerUnit(description);
  const steps = stepsOf(description);
  const totalSteps = units !== null ? units * renders * steps : null;
  const rate = jobs && models ? measuredSecondsPerStep(jobs, models) : null;
  const seconds = totalSteps !== null && rate ? totalSteps * rate.seconds : null;
  const big = seconds !== null ? seconds > CONFIRM_SECONDS : totalSteps !== null && totalSteps > CONFIRM_STEPS;
  const clash = models?.find((m) => m.slug === slug);
  const key = `${totalSteps}|${slug}`;
  useEffect(() => setConfirming(false), [key]);

  return (
    <div className="start-guard">
      {clash && (
        <div className="notice" role="note" data-testid="name-clash">
          A model named <b className="mono">{slug}</b> ({clash.name}, {clash.layers.filter((l) => l.status !== "not_computed").length} layers computed) exists
          already. The run adds to it if this is the same model (finished stages are reused); for a different model, choose another name
          under “Model name (slug)”.
        </div>
      )}
      <p className="small muted" data-testid="cost-estimate">
        {renders === 0 ? (
          "No feature visualization: the cost is one pass over the images plus the weights."
        ) : units === null ? (
          `Feature visualization: ${renders} renders × ${steps} steps per unit. Press “Discover layers” to count the units and estimate the time.`
        ) : (
          <>
            Feature visualization: {units.toLocaleString()} units × {renders} renders × {steps} steps = {totalSteps!.toLocaleString()} optimisation steps
            {seconds !== null
              ? ` ≈ ${duration(seconds)} (measured on this server: ${(rate!.seconds * 1000).toFixed(2)} ms per render-step over ${rate!.jobs} finished job${rate!.jobs > 1 ? "s" : ""}; the device and image size change it).`
              : " (no finished job on this server to measure the speed from yet)."}
          </>
        )}
      </p>
      {confirming ? (
        <div className="notice confirm-start" role="alert" data-testid="confirm-start">
          <b>This is a large computation</b>
          {seconds !== null ? `: about ${duration(seconds)}` : `: ${totalSteps?.toLocaleString()} optimisation steps`}. Fewer steps (e.g. 128) or fewer layers
          make it faster.{" "}
          <button type="button" className="primary" onClick={onStart} disabled={submitting}>
            {submitting ? "Starting…" : "Start anyway"}
          </button>{" "}
          <button type="button" onClick={() => setConfirming(false)}>
            Go back
          </button>
        </div>
      ) : (
        <button type="button" className="primary big" onClick={() => (big && !hasProblems ? setConfirming(true) : onStart())} disabled={submitting}>
          {submitting ? "Starting…" : "Start"}
        </button>
      )}
    </div>
  );
}
