import { useEffect, useState, type ReactNode } from "react";
import { Link } from "react-router-dom";
import { api, ApiError, data, invalidate } from "../../shared/api/client";
import { pagePaths } from "../../shared/paths";
import type { ModelSummary } from "../browse/browseApi";
import { ProgressBar, StageList, StatusBadge } from "../../shared/StatusBadge";
import { fmtDuration, isActive, matchLayers, type Job } from "./jobsApi";
import { toToml } from "./newJob/runDescription";

export function JobStatusBadge({ job }: { job: Pick<Job, "status" | "cancel_requested"> }) {
  return <StatusBadge kind="job" status={job.status} text={job.status === "running" && job.cancel_requested ? "cancelling" : undefined} />;
}

const STAGE_TEXT: Record<string, string> = {
  queued: "waiting for a worker",
  starting: "starting",
  "loading model": "loading the model and images",
  examples: "dataset examples",
  featurevis: "feature visualization",
  weights: "weights and connections",
};

export function stageText(stage: string): string {
  return STAGE_TEXT[stage] ?? stage;
}

/** Stage, layer, done/total with a bar, and the ETA of the current stage. */
export function JobProgress({ job, compact = false, eta }: { job: Job; compact?: boolean; eta?: number | null }) {
  const left = eta === undefined ? job.eta_seconds : eta;
  const frac = job.total > 0 ? job.done / job.total : 0;
  if (!isActive(job)) {
    return compact ? <span className="muted">{job.status === "done" ? "finished" : stageText(job.stage)}</span> : null;
  }
  if (job.status === "queued") return <span className="muted">waiting for a worker (<code>circuitscope worker</code>)</span>;
  return (
    <span className="job-progress" data-testid="job-progress">
      <span className="job-stage">{stageText(job.stage)}</span>
      {job.layer && (
        <>
          {" · "}
          <span className="mono">{job.layer}</span>
        </>
      )}{" "}
      {job.total > 0 && (
        <>
          <ProgressBar value={frac} />{" "}
          <span className="muted num">
            {job.done.toLocaleString()}/{job.total.toLocaleString()}
          </span>
        </>
      )}
      {!compact && left !== null && <span className="muted"> · about {fmtDuration(left)} left in this step</span>}
      {compact && left !== null && <span className="muted"> · {fmtDuration(left)}</span>}
    </span>
  );
}

/** Whether the model's row surely exists (the worker registers it after loading): before that its page is a 404. */
function modelRegistered(job: Job): boolean {
  return job.status === "running" && !["starting", "loading model"].includes(job.stage);
}

/** The job's layers with their computed status, linking to their pages as they finish. */
export function JobLayers({ job }: { job: Job }) {
  const slug = job.model_slug || (job.config.model_slug as string | undefined) || null;
  const [model, setModel] = useState<ModelSummary | null>(null);
  const [missing, setMissing] = useState(false);
  const active = isActive(job);
  const ready = !!slug && (modelRegistered(job) || !active);
  // re-fetch when the job moves on (a stage or layer finished), at most every 3 s while it runs
  const key = `${job.status}|${job.stage}|${job.layer}`;

  useEffect(() => {
    if (!ready || !slug) return;
    let live = true;
    let timer: number | undefined;
    const ctrl = new AbortController();
    const load = async () => {
      try {
        // While it runs: the model itself. Once ended: the list (no 404 when the job stopped before registering it).
        const m = modelRegistered(job)
          ? ((await data(api.GET("/api/models/{model}", { params: { path: { model: slug } }, signal: ctrl.signal }))) as ModelSummary)
          : ((await data(api.GET("/api/models", { signal: ctrl.signal }))) as ModelSummary[]).find((x) => x.slug === slug);
        if (!live) return;
        invalidate("/api/models"); // the browse pages must not show what they cached before this run
        setModel(m ?? null);
        setMissing(!m);
      } catch (err) {
        if (!live || (err as Error).name === "AbortError") return;
        if (err instanceof ApiError && err.status === 404) setMissing(true);
      }
      if (live && active) timer = window.setTimeout(load, 3000);
    };
    load();
    return () => {
      live = false;
      ctrl.abort();
      if (timer !== undefined) window.clearTimeout(timer);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [ready, slug, active, key]);

  const wanted = job.summary.layers ?? job.config.layers ?? [];
  if (!slug) return <p className="muted">The model's name is known when the worker has loaded it.</p>;
  if (!model) {
    return (
      <div>
        <ul className="job-layers pending">
          {wanted.map((l) => (
            <li key={l}>
              <span className="mono">{l}</span> <span className="muted">{active ? "waiting" : "not computed"}</span>
            </li>
          ))}
        </ul>
        <p className="muted small">
          {active ? (
            <>
              Links to the layer pages appear here as layers finish (model <span className="mono">{slug}</span>).
            </>
          ) : missing ? (
            <>
              {job.started_at ? "The job stopped before the model " : "The job never started, and the model "}
              <span className="mono">{slug}</span> {job.started_at ? "was stored." : "does not exist yet."}
            </>
          ) : (
            <>
              Looking up the model <span className="mono">{slug}</span>…
            </>
          )}
        </p>
      </div>
    );
  }
  const names = model.layers.map((l) => l.name);
  const chosen = new Set(matchLayers(wanted, names));
  const rows = model.layers.filter((l) => chosen.has(l.name));
  return (
    <div>
      <table className="layers job-layer-table">
        <thead>
          <tr>
            <th>Layer</th>
            <th className="num">Units</th>
            <th>Status</th>
            <th>Stages</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((l) => {
            const any = Object.values(l.stages).some((s) => s.status === "done" || s.units_done > 0);
            return (
              <tr key={l.name} className={`layer-row status-${l.status}`} data-layer={l.name}>
                <td>
                  {any ? (
                    <Link to={pagePaths.layer(model.slug, l.name)} className="layer-name">
                      {l.name}
                    </Link>
                  ) : (
                    <span className="layer-name muted">{l.name}</span>
                  )}
                </td>
                <td className="num">{l.channels}</td>
                <td>
                  <StatusBadge kind="layer" status={l.status} progress={l.progress} />
                </td>
                <td>
                  <StageList stages={l.stages} />
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      <p className="small">
        <Link to={pagePaths.model(model.slug)}>All of {model.name || model.slug}</Link>
      </p>
    </div>
  );
}

/** What a finished (or stopped) job reports: skipped images with reasons, timings, reused stages. */
export function JobSummary({ job }: { job: Job }) {
  const s = job.summary;
  const skipped = s.skipped_images ?? [];
  const timings = Object.entries(s.timings ?? {});
  const reused = s.stages_skipped ?? [];
  if (!skipped.length && !timings.length && !reused.length && !s.skipped_count) return null;
  return (
    <section className="panel" data-testid="job-summary">
      <h2>Summary</h2>
      {skipped.length > 0 || s.skipped_count ? (
        <div className="notice">
          <strong>
            {s.skipped_count ?? skipped.length} image{(s.skipped_count ?? skipped.length) === 1 ? " was" : "s were"} skipped
          </strong>{" "}
          (unreadable or corrupt):
          <ul className="skipped" data-testid="skipped-images">
            {skipped.map((x, i) => (
              <li key={`${x.ref}-${i}`}>
                <span className="mono">{x.ref}</span> — {x.reason}
              </li>
            ))}
            {(s.skipped_count ?? 0) > skipped.length && <li className="muted">… and {(s.skipped_count ?? 0) - skipped.length} more</li>}
          </ul>
        </div>
      ) : (
        <p className="muted">No image was skipped.</p>
      )}
      {reused.length > 0 && (
        <p className="muted">
          Reused from an earlier run (same parameters): <span className="mono">{reused.join(", ")}</span>
        </p>
      )}
      {timings.length > 0 && (
        <table className="stats timings">
          <tbody>
            {timings.map(([k, v]) => (
              <tr key={k}>
                <th>{k.replace(/_/g, " ")}</th>
                <td className="num">{fmtDuration(v)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

/** A run description as TOML or JSON (the same text as a run file for the CLI); the job page shows the stored
 * one, the new-job form the one it would send (with a footer: copy). */
export function RunDescriptionView({
  config,
  className = "panel",
  preTestId,
  footer,
}: {
  config: Record<string, unknown>;
  className?: string;
  preTestId?: string;
  footer?: (text: string) => ReactNode;
}) {
  const [format, setFormat] = useState<"toml" | "json">("toml");
  const text = format === "toml" ? toToml(config) : JSON.stringify(config, null, 2);
  return (
    <section className={className}>
      <div className="panel-head">
        <h2>Run description</h2>
        <span className="seg">
          <button type="button" className={`small${format === "toml" ? " active" : ""}`} onClick={() => setFormat("toml")}>
            TOML
          </button>
          <button type="button" className={`small${format === "json" ? " active" : ""}`} onClick={() => setFormat("json")}>
            JSON
          </button>
        </span>
      </div>
      <pre className={preTestId ? "mono" : "mono run-description"} data-testid={preTestId}>
        {text}
      </pre>
      {footer?.(text)}
    </section>
  );
}
