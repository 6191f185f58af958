import { Link, useNavigate } from "react-router-dom";
import { EmptyState, ErrorBox } from "../../shared/ErrorBox";
import { Loading } from "../../shared/Loading";
import { formatTime } from "../../shared/format";
import { useResource, useTitle } from "../../shared/useResource";
import { JobProgress, JobStatusBadge } from "./JobParts";
import { elapsed, fmtDuration, isActive, jobPaths, jobQueries, type Job } from "./jobsApi";

function modelOf(job: Job): string {
  const m = job.config.model ?? {};
  const what = m.name ?? m.path ?? m.target;
  return `${String(m.kind ?? "?")}${what ? ` · ${String(what).split("/").pop()}` : ""}`;
}

/** Every computation, newest first, updating while any runs. */
export function JobsPage() {
  useTitle("Computations");
  const navigate = useNavigate();
  const { data, error } = useResource(jobQueries.jobs(100), { fresh: true, pollMs: (jobs) => (jobs?.some(isActive) ? 2000 : 10_000) });

  return (
    <div className="jobs-page">
      <div className="page-head">
        <h1>Computations</h1>
        <Link to={jobPaths.create()} className="button primary">
          New computation
        </Link>
      </div>
      {error && !data && <ErrorBox error={error} />}
      {!data && !error && <Loading what="Loading computations" />}
      {data && data.length === 0 && (
        <EmptyState title="No computations yet">
          <p>
            <Link to={jobPaths.create()}>Start one</Link> from a model file, a torchvision model or the demo model. A worker
            (<code>circuitscope worker</code>, started by <code>circuitscope serve</code>) runs them one at a time.
          </p>
        </EmptyState>
      )}
      {data && data.length > 0 && (
        <table className="layers jobs-table">
          <thead>
            <tr>
              <th className="num">Job</th>
              <th>Status</th>
              <th>Model</th>
              <th>Layers</th>
              <th>Progress</th>
              <th>Created</th>
              <th className="num">Time</th>
            </tr>
          </thead>
          <tbody>
            {data.map((j) => {
              const t = elapsed(j.started_at, j.finished_at);
              return (
                <tr key={j.id} className={`job-row job-${j.status}`} data-job={j.id} onClick={(e) => {
                  if (!(e.target as HTMLElement).closest("a")) navigate(jobPaths.job(j.id));
                }}>
                  <td className="num">
                    <Link to={jobPaths.job(j.id)}>#{j.id}</Link>
                  </td>
                  <td>
                    <JobStatusBadge job={j} />
                  </td>
                  <td>
                    {modelOf(j)}
                    {j.model_slug && <span className="slug mono">{j.model_slug}</span>}
                  </td>
                  <td className="mono small">
                    {j.config.layers.slice(0, 4).join(", ")}
                    {j.config.layers.length > 4 ? ` +${j.config.layers.length - 4}` : ""}
                  </td>
                  <td>
                    {j.status === "failed" ? (
                      <span className="job-error-short" title={j.error ?? ""}>
                        {(j.error ?? "").slice(0, 90)}
                        {(j.error ?? "").length > 90 ? "…" : ""}
                      </span>
                    ) : (
                      <JobProgress job={j} compact />
                    )}
                  </td>
                  <td className="muted">{formatTime(j.created_at)}</td>
                  <td className="num muted">{t === null ? "–" : fmtDuration(t)}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </div>
  );
}
