import { useState } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import { ErrorBox } from "../../shared/ErrorBox";
import { Loading } from "../../shared/Loading";
import { formatTime } from "../../shared/format";
import { useTitle } from "../../shared/useResource";
import { JobLayers, JobProgress, JobStatusBadge, JobSummary, RunDescriptionView } from "./JobParts";
import { elapsed, fmtDuration, isActive, jobCalls, jobPaths, type Job } from "./jobsApi";
import { useJob, useTick } from "./useJob";

function modelLabel(job: Job): string {
  const m = job.config.model ?? {};
  const kind = String(m.kind ?? "?");
  const what = m.name ?? m.path ?? m.target ?? "";
  return what ? `${kind} ${String(what).split("/").pop()}` : kind;
}

function datasetLabel(job: Job): string {
  const d = job.config.dataset ?? {};
  if (d.kind === "folder") return `folder ${String(d.root ?? "")}${d.max_images ? ` (at most ${d.max_images})` : ""}`;
  if (d.kind === "concepts") return `generated concepts (${d.size ?? "default"} images)`;
  return String(d.kind ?? "?");
}

/** One job: live progress, cancel, the error or the summary, the layers as they finish, the run description. */
export function JobPage() {
  const { id = "" } = useParams();
  useTitle(`Job ${id}`);
  const navigate = useNavigate();
  const { job, error, mode, set, receivedAt } = useJob(id);
  const [cancelError, setCancelError] = useState<unknown>(null);
  const [cancelling, setCancelling] = useState(false);
  useTick(!!job && isActive(job));

  if (!job && error) {
    return (
      <ErrorBox error={error}>
        <p>
          <Link to={jobPaths.list()}>All computations</Link>
        </p>
      </ErrorBox>
    );
  }
  if (!job) return <Loading what={`Loading job ${id}`} />;

  const active = isActive(job);
  const ran = elapsed(job.started_at, job.finished_at);
  // the server's estimate, counted down between updates (a long step may report rarely)
  const eta = job.eta_seconds == null ? null : Math.max(0, job.eta_seconds - (Date.now() - receivedAt) / 1000);

  async function cancel() {
    setCancelling(true);
    setCancelError(null);
    try {
      set(await jobCalls.cancel(job!.id));
    } catch (err) {
      setCancelError(err);
    } finally {
      setCancelling(false);
    }
  }

  return (
    <div className="job-page" data-job={job.id} data-status={job.status}>
      <nav className="crumbs">
        <Link to={jobPaths.list()}>Computations</Link> ›
      </nav>
      <div className="page-head">
        <h1>
          Job {job.id} <JobStatusBadge job={job} />
        </h1>
        <span className="job-actions">
          {active && (
            <button type="button" onClick={cancel} disabled={cancelling || job.cancel_requested}>
              {job.cancel_requested ? "Cancel requested…" : cancelling ? "Cancelling…" : "Cancel"}
            </button>
          )}
          <button type="button" onClick={() => navigate(jobPaths.create(), { state: { from: job.config } })}>
            Run again with changes
          </button>
        </span>
      </div>
      <p className="job-meta muted">
        {modelLabel(job)} · {datasetLabel(job)} · {job.config.layers.length} layer item{job.config.layers.length === 1 ? "" : "s"} ·{" "}
        {job.config.device ?? "cpu"} · created {formatTime(job.created_at)}
        {job.created_by ? ` by ${job.created_by}` : ""}
        {ran !== null && ` · ${active ? "running for" : "ran"} ${fmtDuration(ran)}`}
        {job.attempts > 1 && ` · attempt ${job.attempts} (resumed after a worker stopped)`}
      </p>
      {cancelError !== null && <ErrorBox error={cancelError} title="Could not cancel" />}

      {active && (
        <section className="panel job-live">
          <JobProgress job={job} eta={eta} />
          {job.cancel_requested && (
            <p className="muted">The worker stops at its next check; layers finished so far are kept.</p>
          )}
          <p className="muted small live-mode">
            {mode === "live" ? "● live" : mode === "polling" ? "updating every 2 s" : "connecting…"}
            {error && ` · last update failed: ${error.message}`}
          </p>
        </section>
      )}
      {job.status === "failed" && (
        <ErrorBox error={new Error(job.error ?? "The job failed without a message.")} title="The computation failed">
          {typeof job.summary.traceback === "string" && (
            <details>
              <summary>Traceback</summary>
              <pre className="mono traceback">{job.summary.traceback}</pre>
            </details>
          )}
          <p className="small">Fix the cause, then “Run again with changes”; finished stages are reused.</p>
        </ErrorBox>
      )}
      {job.status === "cancelled" && (
        <div className="notice" data-testid="job-cancelled">
          Cancelled{job.finished_at ? ` at ${formatTime(job.finished_at)}` : ""}. {job.error && job.error !== "cancelled" ? job.error : ""}
        </div>
      )}
      {job.status === "done" && (
        <div className="notice ok" data-testid="job-done">
          Finished {formatTime(job.finished_at)}. The units are on the model's pages below.
        </div>
      )}

      <JobSummary job={job} />

      <section className="panel">
        <h2>Layers</h2>
        <JobLayers job={job} />
      </section>

      <RunDescriptionView config={job.config as unknown as Record<string, unknown>} />
    </div>
  );
}
